// Namespace deletion (delete everything inside, then the namespace) and
// garbage collection of objects whose owner is gone (background
// propagation), as kube-controller-manager does.

import { isVirtual, RESOURCES, type ResourceTable, resourceKey } from '../apiserver/resources.js';
import type { Rest } from '../apiserver/rest.js';
import type { Store } from '../apiserver/store.js';
import { Reconciler } from './reconciler.js';

const OWNED_KEYS = RESOURCES.filter((r) => r.namespaced && !isVirtual(r)).map(resourceKey);

export class GarbageCollector extends Reconciler {
  #rest: Rest;
  #table: ResourceTable;

  constructor(store: Store, rest: Rest, table: ResourceTable) {
    super(store, ['namespaces', ...OWNED_KEYS]);
    this.#rest = rest;
    this.#table = table;
  }

  protected reconcile(): void {
    const uids = new Set<string>();
    for (const key of ['namespaces', ...OWNED_KEYS])
      for (const o of this.store.list(key)) uids.add(o.metadata.uid ?? '');
    for (const ns of this.store.list('namespaces')) {
      if (!ns.metadata.deletionTimestamp) continue;
      let left = 0;
      for (const key of OWNED_KEYS) {
        const def = this.#table.byKey(key);
        for (const o of this.store.list(key, ns.metadata.name)) {
          left++;
          if (!o.metadata.deletionTimestamp || key !== 'pods') this.#rest.deleteObject(def, o, undefined, false);
        }
      }
      if (left === 0) this.#rest.removeObject(this.#table.byKey('namespaces'), ns);
    }
    for (const key of OWNED_KEYS) {
      const def = this.#table.byKey(key);
      for (const o of this.store.list(key)) {
        const refs = o.metadata.ownerReferences ?? [];
        if (refs.length > 0 && refs.every((r) => !uids.has(r.uid)) && !o.metadata.deletionTimestamp) {
          this.#rest.deleteObject(def, o, undefined, false);
        }
      }
    }
  }
}
