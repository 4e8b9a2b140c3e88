// The stack's Dialer, made of N HTTP/2 connections (carriers) to the relay (docs/design.md §5).
//
//   dialTcp ─► least-loaded up carrier ─► CONNECT host:port ─► 200: TunnelConnection
//                                                           └► 502/504 + proxy-status: DialError(reason)
//   openUdp ─► same, kvpn-transport: udp/1 ─► TunnelDatagramFlow
//   carriers: carrier-pool.ts (reconnects, backoff, relay recovery, state)
//
// No carrier up: a dial waits for one until its deadline, then fails with
// `timeout` (the stack stays silent, the app retries its SYN).

import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { KvpnError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import {
  ACCEPT_TCP,
  ACCEPT_UDP,
  formatAuthority,
  HEADER_ACCEPT,
  HEADER_CONNECT_TIMEOUT,
  HEADER_DIAL_MICROS,
  HEADER_PEER,
  HEADER_PROXY_STATUS,
  HEADER_TRANSPORT,
  parseProxyStatus,
  RESOLVE_PATH,
  type ResolveAnswer,
  TRANSPORT_UDP,
} from '../relay/protocol.js';
import type { DatagramFlow, Dialer, DialFailureReason, DialRequest } from '../tun/stack/index.js';
import { DialError } from '../tun/stack/index.js';
import { CARRIER_PING_INTERVAL_MS, CarrierError, type CarrierKind, type TunnelCarrier } from './carrier.js';
import {
  BACKOFF_MAX_MS,
  BACKOFF_MIN_MS,
  CarrierPool,
  type CarrierStats,
  type TunnelState,
  type TunnelStateChange,
} from './carrier-pool.js';
import { TunnelDatagramFlow } from './datagram-flow.js';
import { dialFailureReason } from './dial-failure.js';
import { type ByteCounter, ignoreStreamError, TunnelConnection } from './tcp-connection.js';
import { PortForwardTransport, type RelayEndpoint, type TunnelTransport } from './transport.js';

const { NGHTTP2_CANCEL } = http2.constants;

export { TunnelClosedError, type TunnelState, type TunnelStateChange } from './carrier-pool.js';

export const DEFAULT_CARRIERS = 4;
/** The relay listens for inbound connections on every address of its pod. */
const INBOUND_LISTEN_HOST = '0.0.0.0';
export const DEFAULT_DIAL_TIMEOUT_MS = 30_000;
export interface TunnelStats extends CarrierStats {
  tcpStreamsOpen: number;
  tcpStreamsOpened: number;
  udpFlowsOpen: number;
  udpFlowsOpened: number;
  dialErrors: Record<DialFailureReason, number>;
  bytesSent: number;
  bytesReceived: number;
}

export type TunnelDialerOptions = ({ transport: TunnelTransport } | { client: KubeClient; relay: RelayEndpoint }) & {
  /** Parallel carriers (port-forward connections); streams are spread over them. */
  carriers?: number;
  /** HTTP/2 (default) or the mux carrier (tunnel protocol 2); docs/design.md §5. */
  carrier?: CarrierKind;
  /** How long a dial may take in all (waiting for a carrier, then the relay's dial). */
  dialTimeoutMs?: number;
  /** Relay-side connect timeout to ask for (capped by the relay). */
  connectTimeoutMs?: number;
  pingIntervalMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
};

/**
 * One dial's time limit and its caller's signal as one AbortSignal, with a
 * plain timer cleared when the dial settles (no timer left behind per dial).
 */
class Deadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #caller: AbortSignal | undefined;
  readonly #onCallerAbort = (): void => this.#controller.abort(this.#caller?.reason);

  constructor(ms: number, caller: AbortSignal | undefined) {
    this.#caller = caller;
    this.#timer = setTimeout(() => this.#controller.abort(new DOMException('dial deadline', 'TimeoutError')), ms);
    if (caller?.aborted) this.#onCallerAbort();
    else caller?.addEventListener('abort', this.#onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#caller?.removeEventListener('abort', this.#onCallerAbort);
  }
}

/** A dial's stream ended with its carrier, before any answer: safe to retry elsewhere. */
class CarrierLostError extends Error {}

/** Carriers tried per dial when they die under it. */
const MAX_DIAL_ATTEMPTS = 3;

export class TunnelDialer implements Dialer {
  readonly stats: TunnelStats;
  readonly #pool: CarrierPool;
  readonly #dialTimeoutMs: number;
  readonly #connectTimeoutMs: number | undefined;
  readonly #counter: ByteCounter;

  constructor(options: TunnelDialerOptions) {
    const transport =
      'transport' in options ? options.transport : new PortForwardTransport(options.client, options.relay);
    const wanted = Math.max(1, Math.floor(options.carriers ?? DEFAULT_CARRIERS));
    this.#dialTimeoutMs = options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.#connectTimeoutMs = options.connectTimeoutMs;
    this.stats = {
      carriersWanted: wanted,
      carriersUp: 0,
      carriersOpened: 0,
      carriersLost: 0,
      carrierOpenFailures: 0,
      recoveries: 0,
      tcpStreamsOpen: 0,
      tcpStreamsOpened: 0,
      udpFlowsOpen: 0,
      udpFlowsOpened: 0,
      dialErrors: { refused: 0, unreachable: 0, timeout: 0, error: 0 },
      bytesSent: 0,
      bytesReceived: 0,
    };
    const stats = this.stats;
    this.#counter = {
      sent: (n) => {
        stats.bytesSent += n;
      },
      received: (n) => {
        stats.bytesReceived += n;
      },
    };
    this.#pool = new CarrierPool(
      transport,
      {
        carriers: wanted,
        ...(options.carrier ? { kind: options.carrier } : {}),
        pingIntervalMs: options.pingIntervalMs ?? CARRIER_PING_INTERVAL_MS,
        backoffMinMs: options.backoffMinMs ?? BACKOFF_MIN_MS,
        backoffMaxMs: options.backoffMaxMs ?? BACKOFF_MAX_MS,
      },
      this.stats,
    );
  }

  get state(): TunnelState {
    return this.#pool.state;
  }

  /** The kind of carrier in use (a mux request falls back to h2 for a relay without it). */
  get carrierKind(): CarrierKind {
    return this.#pool.kind;
  }

  /** Open streams per carrier that is up (for spreading checks and status). */
  carrierLoads(): number[] {
    return this.#pool.loads();
  }

  /** Subscribes to state transitions; returns the unsubscribe function. */
  onStateChange(listener: (change: TunnelStateChange) => void): () => void {
    return this.#pool.onStateChange(listener);
  }

  /** Resolves once at least one carrier is up; rejects with the last error after `timeoutMs`. */
  async ready(timeoutMs = this.#dialTimeoutMs, signal?: AbortSignal): Promise<void> {
    const deadline = new Deadline(timeoutMs, signal);
    try {
      await this.#pool.carrier(deadline.signal);
    } catch (err) {
      if ((err as Error).name !== 'TimeoutError') throw err;
      throw new CarrierError(
        `no tunnel connection within ${timeoutMs} ms${this.#pool.lastError ? `: ${this.#pool.lastError.message}` : ''}`,
        { cause: this.#pool.lastError, remedy: (this.#pool.lastError as KvpnError | undefined)?.remedy },
      );
    } finally {
      deadline.dispose();
    }
  }

  dialTcp(request: DialRequest): Promise<Duplex> {
    return this.connect(request.destination.address, request.destination.port, { signal: request.signal });
  }

  /** Dials `host:port` from the relay; `host` may be a name (resolved by the pod's resolver). */
  async connect(host: string, port: number, options: { signal?: AbortSignal } = {}): Promise<TunnelConnection> {
    const { stream, headers } = await this.#open(host, port, false, options.signal);
    this.stats.tcpStreamsOpen++;
    this.stats.tcpStreamsOpened++;
    stream.on('close', this.#tcpStreamOnClose);
    const peer = headers[HEADER_PEER];
    const dialMicros = Number(headers[HEADER_DIAL_MICROS]);
    return new TunnelConnection(
      stream,
      this.#counter,
      typeof peer === 'string' ? peer : undefined,
      Number.isFinite(dialMicros) && dialMicros >= 0 ? dialMicros / 1000 : undefined,
    );
  }

  /**
   * Parks a stream on the relay's inbound listener for `port` and resolves
   * with the next connection the cluster makes to it (`peer`: the cluster
   * client). Waits as long as it takes: no dial timeout, only `signal`.
   * `onParked`: the relay confirmed the stream is parked (its listener is open).
   */
  async accept(
    port: number,
    signal: AbortSignal,
    onParked?: () => void,
    extraHeaders?: http2.OutgoingHttpHeaders,
  ): Promise<TunnelConnection> {
    const { stream, peer } = await this.#park(port, ACCEPT_TCP, signal, onParked, extraHeaders);
    this.stats.tcpStreamsOpen++;
    this.stats.tcpStreamsOpened++;
    stream.on('close', this.#tcpStreamOnClose);
    return new TunnelConnection(stream, this.#counter, peer);
  }

  /**
   * A request whose answer stays open (an intercept's registration): resolves on any final
   * answer with its headers; the caller reads or closes the stream. Rejects if no carrier comes.
   */
  async hold(
    headers: http2.OutgoingHttpHeaders,
    signal: AbortSignal,
  ): Promise<{ stream: http2.ClientHttp2Stream; headers: http2.IncomingHttpHeaders }> {
    const carrier = await this.#pool.carrier(signal);
    const stream = carrier.request(headers, { endStream: true });
    stream.on('error', ignoreStreamError);
    return new Promise((resolve, reject) => {
      const onClose = (): void => reject(new Error('the tunnel connection closed before an answer'));
      const onAbort = (): void => {
        stream.close(NGHTTP2_CANCEL);
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      stream.once('close', onClose);
      stream.once('response', (h) => {
        stream.off('close', onClose);
        signal.removeEventListener('abort', onAbort);
        resolve({ stream, headers: h });
      });
    });
  }

  /** As accept(), for the UDP datagrams of one cluster source (`peer`) sent to `port`. */
  async acceptUdp(
    port: number,
    signal: AbortSignal,
    onParked?: () => void,
  ): Promise<{ flow: TunnelDatagramFlow; peer: string | undefined }> {
    const { stream, peer } = await this.#park(port, ACCEPT_UDP, signal, onParked);
    this.stats.udpFlowsOpen++;
    this.stats.udpFlowsOpened++;
    stream.on('close', this.#udpStreamOnClose);
    return { flow: new TunnelDatagramFlow(stream, this.#counter), peer };
  }

  async #park(
    port: number,
    transport: string,
    signal: AbortSignal,
    onParked: (() => void) | undefined,
    extraHeaders?: http2.OutgoingHttpHeaders,
  ): Promise<{ stream: http2.ClientHttp2Stream; peer: string | undefined }> {
    const target = formatAuthority(INBOUND_LISTEN_HOST, port);
    const headers: http2.OutgoingHttpHeaders = {
      ...extraHeaders,
      ':method': 'CONNECT',
      ':authority': target,
      [HEADER_ACCEPT]: transport,
    };
    let carrier: TunnelCarrier;
    try {
      carrier = await this.#pool.carrier(signal);
    } catch (err) {
      throw this.#dialError(err as Error, target);
    }
    const { stream, headers: answer } = await this.#request(carrier, headers, target, signal, onParked);
    const peer = answer[HEADER_PEER];
    return { stream, peer: typeof peer === 'string' ? peer : undefined };
  }

  async openUdp(request: DialRequest): Promise<DatagramFlow> {
    const { stream } = await this.#open(request.destination.address, request.destination.port, true, request.signal);
    this.stats.udpFlowsOpen++;
    this.stats.udpFlowsOpened++;
    stream.on('close', this.#udpStreamOnClose);
    return new TunnelDatagramFlow(stream, this.#counter);
  }

  /** Resolves a name with the relay pod's resolver (cluster DNS, search path). */
  async resolve(name: string, options: { family?: 0 | 4 | 6; signal?: AbortSignal } = {}): Promise<string[]> {
    const deadline = new Deadline(this.#dialTimeoutMs, options.signal);
    try {
      return await this.#resolve(name, options.family ?? 0, deadline.signal);
    } finally {
      deadline.dispose();
    }
  }

  async #resolve(name: string, family: 0 | 4 | 6, signal: AbortSignal): Promise<string[]> {
    const carrier = await this.#pool.carrier(signal);
    const query = new URLSearchParams({ name, family: String(family) });
    let stream: http2.ClientHttp2Stream;
    try {
      stream = carrier.request({ ':method': 'GET', ':path': `${RESOLVE_PATH}?${query}` }, { endStream: true });
    } catch (err) {
      throw new DialError('error', `resolving ${name}: ${(err as Error).message}`);
    }
    const { headers, body } = await new Promise<{ headers: http2.IncomingHttpHeaders; body: string }>(
      (resolve, reject) => {
        let headers: http2.IncomingHttpHeaders = {};
        let body = '';
        const onAbort = (): void => {
          stream.close(NGHTTP2_CANCEL);
          reject(new DialError('timeout', `resolving ${name}: no answer`));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        stream.on('response', (h) => {
          headers = h;
        });
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => {
          if (body.length < 256 * 1024) body += c;
        });
        stream.on('end', () => {
          signal.removeEventListener('abort', onAbort);
          resolve({ headers, body });
        });
        stream.on('error', ignoreStreamError);
        stream.on('close', () => {
          signal.removeEventListener('abort', onAbort);
          reject(new DialError('error', `resolving ${name}: the tunnel connection was lost`));
        });
      },
    );
    const status = Number(headers[':status']);
    if (status !== 200) {
      const ps = parseProxyStatus(headers[HEADER_PROXY_STATUS] as string | undefined);
      throw new DialError(
        dialFailureReason(status, ps),
        `resolving ${name}: ${ps?.error ?? status}${ps?.rcode ? ` ${ps.rcode}` : ''}`,
      );
    }
    return (JSON.parse(body) as ResolveAnswer).addresses.map((a) => a.address);
  }

  /** Stops reconnecting; carriers close after their open streams finish. */
  close(): void {
    this.#pool.shutdown((s) => s.close());
  }

  /** Resets every stream and carrier now. */
  destroy(err?: Error): void {
    this.#pool.shutdown((s) => s.destroy(err));
  }

  async #open(
    host: string,
    port: number,
    udp: boolean,
    callerSignal: AbortSignal | undefined,
  ): Promise<{ stream: http2.ClientHttp2Stream; headers: http2.IncomingHttpHeaders }> {
    const deadline = new Deadline(this.#dialTimeoutMs, callerSignal);
    try {
      return await this.#openWithin(host, port, udp, deadline.signal);
    } finally {
      deadline.dispose();
    }
  }

  async #openWithin(
    host: string,
    port: number,
    udp: boolean,
    signal: AbortSignal,
  ): Promise<{ stream: http2.ClientHttp2Stream; headers: http2.IncomingHttpHeaders }> {
    const target = formatAuthority(host, port);
    const headers: http2.OutgoingHttpHeaders = { ':method': 'CONNECT', ':authority': target };
    if (udp) headers[HEADER_TRANSPORT] = TRANSPORT_UDP;
    if (this.#connectTimeoutMs) headers[HEADER_CONNECT_TIMEOUT] = String(this.#connectTimeoutMs);
    for (let attempt = 1; ; attempt++) {
      let carrier: TunnelCarrier;
      try {
        carrier = await this.#pool.carrier(signal);
      } catch (err) {
        throw this.#dialError(err as Error, target);
      }
      try {
        return await this.#request(carrier, headers, target, signal);
      } catch (err) {
        // The carrier died before the relay answered (e.g. the relay pod went
        // away): nothing reached the target's application yet, try another carrier.
        if (err instanceof CarrierLostError && attempt < MAX_DIAL_ATTEMPTS && !signal.aborted) continue;
        throw this.#dialError(
          err instanceof CarrierLostError ? new DialError('error', err.message) : (err as Error),
          target,
        );
      }
    }
  }

  #request(
    carrier: TunnelCarrier,
    headers: http2.OutgoingHttpHeaders,
    target: string,
    signal: AbortSignal,
    onInformational?: () => void,
  ): Promise<{ stream: http2.ClientHttp2Stream; headers: http2.IncomingHttpHeaders }> {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = carrier.request(headers, { endStream: false });
    } catch (err) {
      // The carrier went away between picking it and using it.
      return Promise.reject(new CarrierLostError(`dial ${target}: ${(err as Error).message}`));
    }
    return new Promise((resolve, reject) => {
      const settle = (err?: Error, responseHeaders?: http2.IncomingHttpHeaders): void => {
        signal.removeEventListener('abort', onAbort);
        stream.off('close', onClose);
        stream.off('response', onResponse);
        if (err) reject(err);
        else resolve({ stream, headers: responseHeaders as http2.IncomingHttpHeaders });
      };
      const onAbort = (): void => {
        if (!stream.closed) stream.close(NGHTTP2_CANCEL);
        const reason = signal.reason as Error | undefined;
        if (reason?.name === 'TimeoutError') {
          settle(new DialError('timeout', `dial ${target}: no answer from the relay in ${this.#dialTimeoutMs} ms`));
        } else settle(reason instanceof Error ? reason : new DialError('error', `dial ${target}: aborted`));
      };
      const onClose = (): void =>
        settle(new CarrierLostError(`dial ${target}: the tunnel connection was lost before the relay answered`));
      const onResponse = (h: http2.IncomingHttpHeaders): void => {
        const status = Number(h[':status']);
        if (status === 200) {
          settle(undefined, h);
          return;
        }
        const ps = parseProxyStatus(h[HEADER_PROXY_STATUS] as string | undefined);
        const reason = dialFailureReason(status, ps);
        if (!stream.closed) stream.close(NGHTTP2_CANCEL);
        const details = ps?.details ? ` (${ps.details})` : '';
        settle(new DialError(reason, `dial ${target}: ${ps?.error ?? `HTTP ${status}`}${details}`));
      };
      stream.on('error', ignoreStreamError);
      stream.on('close', onClose);
      stream.on('response', onResponse);
      if (onInformational) stream.once('headers', onInformational);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // Shared by every stream (each emits 'close' once): no closure or once() wrapper per connection.
  readonly #tcpStreamOnClose = (): void => {
    this.stats.tcpStreamsOpen--;
  };

  readonly #udpStreamOnClose = (): void => {
    this.stats.udpFlowsOpen--;
  };

  #dialError(err: Error, target: string): DialError {
    let out: DialError;
    if (err instanceof DialError) out = err;
    else if (err.name === 'TimeoutError') {
      const why = this.#pool.lastError ? ` (${this.#pool.lastError.message})` : '';
      out = new DialError('timeout', `dial ${target}: no tunnel connection became available in time${why}`, {
        cause: err,
      });
    } else out = new DialError('error', `dial ${target}: ${err.message}`, { cause: err });
    this.stats.dialErrors[out.reason]++;
    return out;
  }
}
