// The session's view of the cluster's ranges: one discovery at start
// (src/session/cidr-discovery.ts), then, when pod ranges were only inferred from pod
// IPs, a pod watch that reports pods appearing outside the routed ranges.

import type { Logger } from '../host/log.js';
import type { KubeClient } from '../kube/client.js';
import {
  type CidrDiscovery,
  discoverPodCidrs,
  discoverServiceCidrs,
  type PodCidrSource,
  type ServiceCidrSource,
  watchPodRanges,
} from './cidr-discovery.js';

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

  /** Starts watching pods if `needed` (pod ranges were inferred, not read from nodes). */
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
