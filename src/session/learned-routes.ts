// Routes added while the session runs, beyond the ranges discovered at
// start: the pod watch reports pods outside the routed ranges, and the DNS
// server hands over each address the cluster DNS answers for a cluster
// name. A user who may not read Services starts with a guessed Service
// range (discovery.ts); a Service outside it becomes reachable as soon as
// its name resolves: its cover is routed before the DNS reply leaves, so
// the client's first packet already goes into the TUN. DNS-learned ranges
// are bounded: an answer can add a route, not route the whole Internet.
import type { ClusterAddress } from '../dns/index.js';
import type { Logger } from '../host/log.js';
import { POD_COVER_PREFIX, SERVICE_COVER_PREFIX, uncoveredRange } from './cidr-discovery.js';
import type { SessionRoutes } from './session-routes.js';

export const MAX_DNS_LEARNED_RANGES = 32;

export interface LearnedRoutesOptions {
  routes: Pick<SessionRoutes, 'routed' | 'addDiscovered'>;
  /** A range was routed (the session adds it to its ranges). */
  onRouted: (cidr: string, source: 'service' | 'pod') => void;
  warn: (message: string) => void;
  log: Logger;
}

export class LearnedRoutes {
  readonly #o: LearnedRoutesOptions;
  /** Every range tried once: a conflict or a carve-out is not retried (nor warned about) per query. */
  readonly #tried = new Map<string, Promise<void>>();
  #fromDns = 0;
  #closed = false;

  constructor(options: LearnedRoutesOptions) {
    this.#o = options;
  }

  /** Routes `cidr` (once), which holds `why` ("pod web-1"). */
  add(cidr: string, source: 'service' | 'pod', why: string): Promise<void> {
    const tried = this.#tried.get(cidr);
    if (tried) return tried;
    if (this.#closed) return Promise.resolve();
    const adding = this.#o.routes.addDiscovered(cidr, source, why).then(
      (added) => {
        if (!added) return;
        this.#o.onRouted(cidr, source);
        this.#o.log.info('new range routed', { cidr, source, why });
      },
      (err: Error) => this.#o.warn(`could not route ${cidr} (${why}): ${err.message}`),
    );
    this.#tried.set(cidr, adding);
    return adding;
  }

  /**
   * The DNS server's hook: routes the cover of each address outside the
   * routed ranges; the reply waits for the promise. Undefined (no wait)
   * when everything answered is routed already.
   */
  learn(found: ClusterAddress[]): Promise<void> | undefined {
    const known = this.#o.routes.routed.map((r) => r.cidr);
    const waits: Promise<void>[] = [];
    for (const { name, address, kind } of found) {
      const range = uncoveredRange(address, known, kind === 'pod' ? POD_COVER_PREFIX : SERVICE_COVER_PREFIX);
      if (!range) continue;
      if (!this.#tried.has(range)) {
        if (this.#fromDns >= MAX_DNS_LEARNED_RANGES) {
          if (this.#fromDns++ === MAX_DNS_LEARNED_RANGES)
            this.#o.warn(
              `the cluster DNS named addresses in more than ${MAX_DNS_LEARNED_RANGES} new ranges; no more are routed`,
            );
          continue;
        }
        this.#fromDns++;
      }
      waits.push(this.add(range, kind, `${name} (${address})`));
    }
    return waits.length ? Promise.all(waits).then(() => {}) : undefined;
  }

  close(): void {
    this.#closed = true;
  }
}
