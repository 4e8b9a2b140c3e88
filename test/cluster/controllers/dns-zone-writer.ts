// Keeps the cluster DNS zone file (read by the coredns pod) in step with
// Services and EndpointSlices. Written atomically (tmp + rename).
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '../apiserver/store.js';
import { clusterZone } from '../dns/zone.js';
import { CLUSTER_DOMAIN } from '../world-config.js';
import { Reconciler } from './reconciler.js';

export class DnsZoneWriter extends Reconciler {
  #dir: string;
  #last = '';

  constructor(store: Store, dir: string) {
    super(store, ['services', 'discovery.k8s.io/endpointslices']);
    this.#dir = dir;
  }

  get path(): string {
    return join(this.#dir, 'zone.json');
  }

  protected async reconcile(): Promise<void> {
    const zone = clusterZone(
      this.store.list('services'),
      this.store.list('discovery.k8s.io/endpointslices'),
      CLUSTER_DOMAIN,
    );
    const text = JSON.stringify(zone);
    if (text === this.#last) return;
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, this.path);
    this.#last = text;
  }
}
