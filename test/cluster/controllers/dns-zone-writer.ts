// Keeps the cluster DNS zone file (read by the coredns pod) in step with
// Services and EndpointSlices. Written atomically (tmp + rename).
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '../apiserver/store.js';
import { clusterZone } from '../dns/zone.js';
import { Reconciler } from './reconciler.js';

export class DnsZoneWriter extends Reconciler {
  #dir: string;
  readonly #clusterDomain: string;
  #last = '';

  constructor(store: Store, dir: string, clusterDomain: string) {
    super(store, ['services', 'discovery.k8s.io/endpointslices']);
    this.#dir = dir;
    this.#clusterDomain = clusterDomain;
  }

  get path(): string {
    return join(this.#dir, 'zone.json');
  }

  protected async reconcile(): Promise<void> {
    const zone = clusterZone(
      this.store.list('services'),
      this.store.list('discovery.k8s.io/endpointslices'),
      this.#clusterDomain,
    );
    const text = JSON.stringify(zone);
    if (text === this.#last) return;
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, this.path);
    this.#last = text;
  }
}
