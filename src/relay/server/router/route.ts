// One router port at run time: where its un-intercepted traffic goes, its
// counters, and the one way traffic reaches a laptop (a parked stream, or
// the pods when none comes in time: fail open).
import type http2 from 'node:http2';
import type { RouterRoute } from '../../environment.js';
import type { FailedOpenWhy } from '../../intercept-spec.js';
import { parseAuthority } from '../../protocol.js';
import { peerName } from '../listen.js';
import type { RelayLog } from '../log.js';
import type { InterceptTable, Registration } from './intercept-table.js';

export interface RouteCounters {
  /** Connections accepted on the port. */
  connections: number;
  /** Connections (raw) or requests/streams (HTTP) sent to the pods. */
  toPods: number;
  /** Connections or requests/streams sent to a laptop. */
  toLaptop: number;
}

export interface RouteTiming {
  /** A connection or request waits this long for a parked stream. */
  waitMs: number;
  /** A connection to a personal port may stay silent this long before it goes to the pods raw. */
  sniffMs: number;
  /** Raw flows to a laptop with no byte either way for this long are reset (as the relay's TCP flows). */
  tcpIdleMs: number;
}

/** A parked stream answered 200, or why the traffic goes to the pods instead (already counted). */
export type Opened = { stream: http2.ServerHttp2Stream } | { stream: undefined; why: FailedOpenWhy };

export class RouteRuntime {
  readonly counters: RouteCounters = { connections: 0, toPods: 0, toLaptop: 0 };
  readonly upstream: { host: string; port: number };
  /** Bound port (differs from the configured one only when that is 0, in tests). */
  port = 0;
  /** Intercepts currently failing open, so that it is logged once per episode, not per request. */
  readonly #failing = new WeakSet<Registration>();

  constructor(
    readonly route: RouterRoute,
    readonly table: InterceptTable,
    readonly log: RelayLog,
    readonly timing: RouteTiming,
  ) {
    const target = parseAuthority(route.upstream);
    if (!target) throw new Error(`bad upstream ${route.upstream}`);
    this.upstream = target;
  }

  /** Traffic that goes to the pods, counted. */
  toPods(): void {
    this.counters.toPods++;
  }

  /** Traffic that went to `reg`'s laptop, counted (per connection, or per HTTP request/stream). */
  toLaptop(reg: Registration): void {
    this.counters.toLaptop++;
    reg.counters.toLaptop++;
  }

  /**
   * A parked stream of `reg`, answered 200 + kvpn-peer: `peer`; none when none came
   * within waitMs (or too many wait, or the intercept went away): the caller sends the
   * traffic to the pods, already counted here.
   */
  async openLaptop(reg: Registration, peer: string): Promise<Opened> {
    const taken = await reg.laptop.take(peer);
    if (taken.stream) {
      if (this.#failing.delete(reg)) this.log.info('intercept serving again', { id: reg.id, port: this.port });
      return { stream: taken.stream };
    }
    this.counters.toPods++;
    reg.counters.toPods++;
    if (taken.why === 'full') reg.counters.refused++;
    else reg.counters.failedOpen++;
    if (!this.#failing.has(reg)) {
      this.#failing.add(reg);
      this.log.info('intercept failing open: traffic goes to the pods', {
        id: reg.id,
        port: this.port,
        why: taken.why === 'full' ? 'too many waiting' : taken.why === 'gone' ? 'intercept removed' : 'nothing parked',
        waitMs: this.timing.waitMs,
      });
    }
    return { stream: undefined, why: taken.why === 'full' ? 'full' : 'failed-open' };
  }
}

/** `ip:port` of a socket's peer, for kvpn-peer (written as accept.ts writes it). */
export function peerOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  // The router listens dual-stack (listen.ts): IPv4 clients are named without the ::ffff: prefix.
  return peerName(socket);
}
