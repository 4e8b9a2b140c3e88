// The session's view of the cluster's ranges: one discovery at start
// (src/session/cidr-discovery.ts); where the API gave no Service range (the
// user may not read Services), a cover of the kubernetes and cluster DNS
// Services found through the tunnel (cluster-services.ts); then, when pod
// ranges were not read from nodes, a pod watch that reports pods appearing
// outside the routed ranges.

import type { Logger } from '../host/log.js';
import type { KubeClient } from '../kube/client.js';
import {
  type CidrDiscovery,
  discoverPodCidrs,
  discoverServiceCidrs,
  type PodCidrSource,
  type ServiceCidrSource,
  serviceIpCover,
  watchPodRanges,
} from './cidr-discovery.js';
import type { WellKnownServices } from './cluster-services.js';

export interface Ranges {
  service: CidrDiscovery<ServiceCidrSource>;
  pod: CidrDiscovery<PodCidrSource>;
}

export async function discoverRanges(client: KubeClient, log: Logger): Promise<Ranges> {
  const [service, pod] = await Promise.all([
    discoverServiceCidrs(client, client.namespace),
    discoverPodCidrs(client, client.namespace),
  ]);
  for (const note of [...service.notes, ...pod.notes]) log.info(`CIDR discovery: ${note}`);
  log.info('CIDRs discovered', {
    service: service.cidrs.join(' '),
    serviceSource: service.source,
    pod: pod.cidrs.join(' '),
    podSource: pod.source,
  });
  return { service, pod };
}

/** Ranges that are guesses (covers of addresses seen), not read from the cluster. */
export function rangesInferred(ranges: Ranges): boolean {
  return (
    !['servicecidr-api', 'invalid-clusterip'].includes(ranges.service.source) || ranges.pod.source !== 'node-podcidrs'
  );
}

/** No Service range from the API: cover the kubernetes and cluster DNS Services instead. */
export async function completeServiceRange(
  ranges: Ranges,
  wellKnown: () => Promise<WellKnownServices>,
  log: Logger,
): Promise<Ranges> {
  if (ranges.service.source !== 'none') return ranges;
  const found = await wellKnown();
  const addresses = [...found.kubernetes, ...found.clusterDns];
  const cidrs = serviceIpCover(addresses);
  const note = `kubernetes and kube-dns Services through the tunnel: ${addresses.join(' ') || 'not found'}`;
  log.info(`CIDR discovery: ${note}`);
  const notes = [...ranges.service.notes, note];
  const source = cidrs.length ? 'well-known-services' : 'none';
  return { ...ranges, service: { ...ranges.service, cidrs, source, notes } };
}

export interface RangeWatcherOptions {
  known: () => readonly string[];
  onNewRange: (cidr: string, pod: string) => void;
  log: Logger;
}

export class RangeWatcher {
  readonly #client: KubeClient;
  readonly #options: RangeWatcherOptions;
  #watch: { close(): void } | undefined;
  #closed = false;
  #lastError = '';

  constructor(client: KubeClient, options: RangeWatcherOptions) {
    this.#client = client;
    this.#options = options;
  }

  /** Starts watching pods if `needed` (pod ranges were not read from nodes). */
  start(needed: boolean): void {
    if (!needed) return;
    void watchPodRanges(this.#client, this.#client.namespace, {
      known: this.#options.known,
      onNewRange: this.#options.onNewRange,
      onError: (err) => {
        // Informers retry by themselves; log each distinct problem once.
        if (err.message !== this.#lastError) this.#options.log.warn('pod watch', { error: err });
        this.#lastError = err.message;
      },
    }).then(
      (w) => {
        if (this.#closed) w.close();
        else this.#watch = w;
      },
      (err: Error) => this.#options.log.warn('cannot watch pods for new ranges', { error: err }),
    );
  }

  close(): void {
    this.#closed = true;
    this.#watch?.close();
  }
}
