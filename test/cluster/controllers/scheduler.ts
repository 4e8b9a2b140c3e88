// Binds pending pods to nodes: spec.nodeName if given, a kubernetes.io/hostname
// nodeSelector if given, else the node with the fewest pods.
import type { KObject } from '../apiserver/objects.js';
import type { Store } from '../apiserver/store.js';
import type { EventRecorder } from '../kubelet/events.js';
import { Reconciler } from './reconciler.js';

export class Scheduler extends Reconciler {
  #events: EventRecorder;

  constructor(store: Store, events: EventRecorder) {
    super(store, ['pods', 'nodes']);
    this.#events = events;
  }

  protected reconcile(): void {
    const nodes = this.store.list('nodes').map((n) => n.metadata.name ?? '');
    if (nodes.length === 0) return;
    const pods = this.store.list('pods');
    const load = new Map(nodes.map((n) => [n, 0]));
    for (const p of pods) if (p.spec?.nodeName) load.set(p.spec.nodeName, (load.get(p.spec.nodeName) ?? 0) + 1);
    for (const p of pods) {
      if (p.spec?.nodeName || p.metadata.deletionTimestamp) continue;
      const node = this.#pick(p, nodes, load);
      if (!node) continue;
      load.set(node, (load.get(node) ?? 0) + 1);
      const bound = this.store.mutate('pods', p.metadata.namespace, p.metadata.name ?? '', (x) => {
        x.spec.nodeName = node;
        x.status = {
          ...x.status,
          conditions: [
            {
              type: 'PodScheduled',
              status: 'True',
              lastProbeTime: null,
              lastTransitionTime: `${new Date().toISOString().slice(0, 19)}Z`,
            },
          ],
        };
      });
      if (bound)
        this.#events.record(
          bound,
          'Normal',
          'Scheduled',
          `Successfully assigned ${p.metadata.namespace}/${p.metadata.name} to ${node}`,
          'default-scheduler',
        );
    }
  }

  #pick(p: KObject, nodes: string[], load: Map<string, number>): string | undefined {
    const wanted = p.spec?.nodeSelector?.['kubernetes.io/hostname'];
    if (wanted) return nodes.includes(wanted) ? wanted : undefined;
    return [...nodes].sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0) || a.localeCompare(b))[0];
  }
}
