// The router mode of the relay program (KVPN_RELAY_MODE=router, for
// `kvpn intercept`): it stands in for a Service's pods and sends each
// connection, or each HTTP request, to the laptop that intercepts it or on
// to the pods through the decoy Service. Laptops reach it as they reach a
// relay (port-forward, HTTP/2, the token on every stream, checked by
// server.ts); this handles their streams:
//
//   POST /v1/intercepts + kvpn-intercept-spec ─► 200, open while the intercept lives
//                                               (ndjson: counters, and each request routed for it)
//   CONNECT 0.0.0.0:port + kvpn-accept: tcp + kvpn-intercept: id ─► 102 parked ─► 200 + kvpn-peer, bytes
//   any other CONNECT ─► 403 (a router dials nothing)
//
// Carriers holding registrations or parked streams are pinged (heartbeat.ts):
// a silent laptop's intercepts go, and its traffic goes to the pods again.
import http2 from 'node:http2';
import {
  HEADER_INTERCEPT,
  HEADER_INTERCEPT_SPEC,
  INTERCEPTS_PATH,
  type InterceptSpec,
  parseInterceptSpec,
} from '../../intercept-spec.js';
import {
  ACCEPT_TCP,
  formatProxyStatus,
  HEADER_ACCEPT,
  HEADER_PROXY_STATUS,
  PARKED_STATUS,
  type ProxyErrorType,
  parseAuthority,
} from '../../protocol.js';
import type { RelayConfig } from '../config.js';
import type { RelayLog } from '../log.js';
import { FrontListener } from './front.js';
import { Heartbeat } from './heartbeat.js';
import { InterceptTable, Registration, type RemovalReason } from './intercept-table.js';
import { LaptopStreams, MAX_PARKED_PER_INTERCEPT } from './laptop-streams.js';
import { RegistrationStream } from './registration-stream.js';
import { RouteRuntime } from './route.js';

const { NGHTTP2_CANCEL } = http2.constants;

export interface RouterInfo {
  routes: {
    port: number;
    upstream: string;
    connections: number;
    toPods: number;
    toLaptop: number;
    intercepts: {
      id: string;
      owner: string;
      /** canonicalFilter; '' for a whole intercept. */
      filter: string;
      whole: boolean;
      since: string;
      parked: number;
      toLaptop: number;
      toPods: number;
      failedOpen: number;
      refused: number;
      requestsDropped: number;
    }[];
  }[];
  /** Carriers being pinged. */
  carriersWatched: number;
}

export class Router {
  readonly #table = new InterceptTable();
  #listening = false;
  readonly #fronts: FrontListener[];
  readonly #config: RelayConfig;
  readonly #log: RelayLog;
  readonly #heartbeat: Heartbeat;
  /** Carriers destroyed for a missed PING: their registrations end with reason 'ping timeout'. */
  readonly #timedOut = new WeakSet<http2.Http2Session>();
  readonly #streams = new Map<Registration, http2.ServerHttp2Stream>();

  constructor(config: RelayConfig, log: RelayLog) {
    this.#config = config;
    this.#log = log;
    this.#heartbeat = new Heartbeat(config.routerPingIntervalMs, config.routerPingTimeoutMs, (session) => {
      this.#timedOut.add(session);
      log.warn('carrier did not answer a PING in time; dropping its intercepts', {
        timeoutMs: config.routerPingTimeoutMs,
      });
    });
    const timing = { waitMs: config.routerWaitMs, sniffMs: config.routerSniffMs, tcpIdleMs: config.tcpIdleMs };
    this.#fronts = config.routes.map((r) => new FrontListener(new RouteRuntime(r, this.#table, log, timing)));
  }

  /** Opens every route's listener; resolves with the bound ports, in route order. */
  async listen(): Promise<number[]> {
    const ports = await Promise.all(this.#fronts.map((f) => f.listen()));
    for (const p of ports) this.#table.openPort(p);
    this.#listening = true;
    this.#log.info('router listening', {
      routes: this.#fronts.map((f) => `${f.route.port}->${f.route.route.upstream}`).join(' '),
    });
    return ports;
  }

  /** Bound ports, in route order (empty before listen()). */
  get ports(): number[] {
    return this.#listening ? this.#fronts.map((f) => f.route.port) : [];
  }

  /** An authenticated stream that is not GET (server.ts answers /v1/info and /v1/resolve). */
  onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const refusal = this.#handle(stream, headers);
    if (refusal && !stream.destroyed && !stream.headersSent) {
      stream.respond(
        { ':status': refusal.status, [HEADER_PROXY_STATUS]: formatProxyStatus(refusal) },
        { endStream: true },
      );
    }
  }

  /** Serves the stream; a refusal is answered by the caller. */
  #handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Refusal | undefined {
    const method = headers[':method'];
    const path = headers[':path'];
    if (method === 'POST' && path === INTERCEPTS_PATH) return this.#register(stream, headers);
    if (method === 'CONNECT' && headers[HEADER_INTERCEPT] !== undefined) return this.#park(stream, headers);
    if (method === 'CONNECT') return refusal(403, 'http_request_denied', 'this is a router: it dials nothing');
    if (method === 'POST') return refusal(404, 'http_request_error', `no such path ${path}`);
    return refusal(405, 'http_request_error', `method ${method} not supported`);
  }

  info(): RouterInfo {
    return {
      routes: this.#fronts.map((f) => ({
        port: f.route.port,
        upstream: f.route.route.upstream,
        ...f.route.counters,
        intercepts: this.#table.onPort(f.route.port).map((r) => ({
          id: r.id,
          owner: r.spec.owner,
          filter: r.filterText,
          whole: r.whole,
          since: r.since,
          parked: r.laptop.parked,
          ...r.counters,
        })),
      })),
      carriersWatched: this.#heartbeat.watched,
    };
  }

  /** Closes the listeners, ends every intercept (parked streams cancelled) and resets open connections. */
  destroy(): void {
    this.#heartbeat.close();
    for (const reg of this.#table.all()) this.#remove(reg, 'router closing');
    for (const f of this.#fronts) f.destroy();
  }

  #register(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Refusal | undefined {
    const table = this.#table;
    let spec: InterceptSpec;
    try {
      spec = parseInterceptSpec(headerValue(headers[HEADER_INTERCEPT_SPEC]));
    } catch (err) {
      return refusal(400, 'http_request_error', (err as Error).message);
    }
    const admission = table.admit(spec);
    if (!admission.ok) {
      const error: ProxyErrorType =
        admission.status === 409
          ? 'http_request_denied'
          : admission.status === 503
            ? 'connection_limit_reached'
            : 'http_request_error';
      if (admission.status === 409) this.#log.info('intercept refused', { id: spec.id, details: admission.details });
      return refusal(admission.status, error, admission.details);
    }
    const session = stream.session;
    if (stream.destroyed || !session) return undefined;
    if (admission.replaces) this.#remove(admission.replaces, 'replaced');
    const reg = new Registration(spec, new LaptopStreams(this.#config.routerWaitMs));
    table.add(reg);
    this.#streams.set(reg, stream);
    const release = this.#heartbeat.hold(session);
    stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
    this.#log.info('intercept registered', {
      id: spec.id,
      port: spec.port,
      owner: spec.owner,
      filter: reg.filterText || '(whole)',
      replaced: admission.replaces !== undefined,
    });
    const lines = new RegistrationStream(stream, reg.counters, this.#config.routerStatsIntervalMs);
    if (spec.records !== false) reg.requests = lines;
    stream.resume(); // the laptop sends nothing after its HEADERS; read the END_STREAM.
    stream.once('close', () => {
      lines.close();
      release();
      this.#remove(reg, this.#timedOut.has(session) ? 'ping timeout' : 'closed');
    });
    return undefined;
  }

  #remove(reg: Registration, why: RemovalReason): void {
    if (!this.#table.remove(reg)) return;
    reg.dispose();
    const stream = this.#streams.get(reg);
    this.#streams.delete(reg);
    // END_STREAM then RST_STREAM(CANCEL) (Node's close): the laptop sees its registration end.
    if (stream && !stream.destroyed && !stream.closed) stream.close(NGHTTP2_CANCEL);
    this.#log.info('intercept removed', {
      id: reg.id,
      port: reg.spec.port,
      owner: reg.spec.owner,
      why,
      toLaptop: reg.counters.toLaptop,
      failedOpen: reg.counters.failedOpen,
    });
  }

  #park(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Refusal | undefined {
    const id = headerValue(headers[HEADER_INTERCEPT]) ?? '';
    if (headers[HEADER_ACCEPT] !== ACCEPT_TCP)
      return refusal(400, 'http_request_error', `a router parks kvpn-accept: ${ACCEPT_TCP} streams only`);
    const target = parseAuthority(headers[':authority']);
    if (!target) return refusal(400, 'http_request_error', `bad authority ${headers[':authority']}`);
    const reg = this.#table.get(id);
    if (!reg) return refusal(404, 'http_request_error', `no intercept ${id}`);
    if (reg.spec.port !== target.port)
      return refusal(400, 'http_request_error', `intercept ${id} is on port ${reg.spec.port}`);
    if (reg.laptop.parked >= MAX_PARKED_PER_INTERCEPT)
      return refusal(503, 'connection_limit_reached', `${reg.laptop.parked} streams parked for ${id}`);
    const session = stream.session;
    if (stream.destroyed || !session) return undefined;
    // 102 first: park() may hand the stream to a waiting connection, which answers 200 at once.
    stream.additionalHeaders({ ':status': PARKED_STATUS });
    const release = this.#heartbeat.hold(session);
    stream.once('close', release);
    reg.laptop.park(stream);
    return undefined;
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

interface Refusal {
  status: number;
  error: ProxyErrorType;
  details: string;
}

function refusal(status: number, error: ProxyErrorType, details: string): Refusal {
  return { status, error, details };
}
