// The relay: an HTTP/2 (h2c) server on the pod's loopback that the tunnel
// client reaches through port-forward, one TCP connection per carrier (HTTP/2 connection).
//
//   stream ─► token check (407) ─► route:
//     CONNECT host:port                        → relay-tcp (dial, splice)
//     CONNECT host:port + kvpn-transport udp/1 → relay-udp (datagrams)
//     CONNECT 0.0.0.0:port + kvpn-accept tcp   → accept (parked for an inbound connection)
//     CONNECT 0.0.0.0:port + kvpn-accept udp/1 → accept-udp (parked for an inbound UDP flow)
//     GET /v1/resolve?name=…                   → relay-resolve
//     GET /v1/info                             → protocol version, counters
//   anything else → 405/400
// In router mode (config.mode, for `kvpn intercept`) every stream but a GET
// goes to router/router.ts instead: registrations, parked streams; no dials.
//
// Bounded: streams per carrier (SETTINGS), flows overall (503
// connection_limit_reached), flow-control windows per stream/connection.
// With no client connected for idleExitMs, `onIdle` fires (relay-main exits).
import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import {
  ACCEPT_TCP,
  ACCEPT_UDP,
  CONNECTION_WINDOW_BYTES,
  formatProxyStatus,
  HEADER_ACCEPT,
  HEADER_AUTHORIZATION,
  HEADER_CONNECT_TIMEOUT,
  HEADER_PROXY_STATUS,
  HEADER_TRANSPORT,
  INBOUND_PORT_MAX,
  INBOUND_PORT_MIN,
  INFO_PATH,
  MAX_CARRIER_MEMORY_MB,
  MAX_CONCURRENT_STREAMS,
  MAX_FRAME_BYTES,
  type ProxyErrorType,
  parseAuthority,
  RESOLVE_PATH,
  STREAM_WINDOW_BYTES,
  TRANSPORT_TCP,
  TRANSPORT_UDP,
  TUNNEL_PROTOCOL_VERSION,
} from '../protocol.js';
import { InboundListeners } from './accept.js';
import { InboundUdpListeners } from './accept-udp.js';
import type { RelayConfig } from './config.js';
import type { FlowContext } from './flow.js';
import type { RelayLog } from './log.js';
import { serveMuxCarrier, sniffCarrier } from './mux-carrier.js';
import { relayResolve } from './resolve.js';
import { Router } from './router/router.js';
import { relayTcp } from './tcp.js';
import { relayUdp } from './udp.js';

export const RELAY_VERSION = '0.1.0';

type Route =
  | { kind: 'refuse'; status: number; outcome: { error: ProxyErrorType; details: string } }
  | { kind: 'info' }
  | { kind: 'router' }
  | { kind: 'resolve'; query: URLSearchParams }
  | { kind: 'accept'; port: number; udp: boolean }
  | { kind: 'tcp' | 'udp'; host: string; port: number; connectTimeoutMs: number };

export interface RelayCounters {
  clientsConnected: number;
  carriersTotal: number;
  flowsOpen: number;
  tcpFlowsTotal: number;
  udpFlowsTotal: number;
  dialFailures: Record<string, number>;
  authFailures: number;
  limitRefusals: number;
  bytesToTargets: number;
  bytesFromTargets: number;
  datagramsDropped: number;
}

export class RelayServer {
  readonly counters: RelayCounters = {
    clientsConnected: 0,
    carriersTotal: 0,
    flowsOpen: 0,
    tcpFlowsTotal: 0,
    udpFlowsTotal: 0,
    dialFailures: {},
    authFailures: 0,
    limitRefusals: 0,
    bytesToTargets: 0,
    bytesFromTargets: 0,
    datagramsDropped: 0,
  };
  readonly #config: RelayConfig;
  readonly #log: RelayLog;
  readonly #onIdle: () => void;
  /** Takes every connection and hands it to the HTTP/2 server or a mux session, by its preface. */
  readonly #listener: net.Server;
  readonly #server: http2.Http2Server;
  readonly #tokenDigest: Buffer;
  readonly #sockets = new Set<Socket>();
  readonly #inbound: InboundListeners;
  readonly #inboundUdp: InboundUdpListeners;
  readonly #started = Date.now();
  readonly #router: Router | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(config: RelayConfig, log: RelayLog, onIdle: () => void = () => {}) {
    this.#config = config;
    this.#log = log;
    this.#onIdle = onIdle;
    this.#tokenDigest = digest(`Bearer ${config.token}`);
    this.#inbound = new InboundListeners(log, { lingerMs: config.inboundLingerMs, waitMs: config.inboundWaitMs });
    this.#inboundUdp = new InboundUdpListeners(log, { lingerMs: config.inboundLingerMs, idleMs: config.udpIdleMs });
    if (config.mode === 'router') this.#router = new Router(config, log);
    this.#server = http2.createServer({
      settings: {
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxFrameSize: MAX_FRAME_BYTES,
        maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
        maxHeaderListSize: 16 * 1024,
      },
      maxSessionMemory: MAX_CARRIER_MEMORY_MB,
      peerMaxConcurrentStreams: MAX_CONCURRENT_STREAMS,
    });
    this.#listener = net.createServer((socket) => this.#serverOnConnection(socket));
    this.#server.on('session', (h2) => this.#serverOnCarrier(h2));
    this.#server.on('stream', (stream, headers) => this.#serverOnStream(stream, headers));
  }

  async listen(): Promise<AddressInfo> {
    await this.#router?.listen();
    this.#listener.listen(this.#config.port, this.#config.host);
    await once(this.#listener, 'listening');
    const address = this.#listener.address() as AddressInfo;
    this.#log.info('relay listening', { address: address.address, port: address.port, version: RELAY_VERSION });
    this.#armIdleExit();
    return address;
  }

  /** Router mode: the bound port of each route, in route order (empty before listen()). */
  routerPorts(): number[] {
    return this.#router?.ports ?? [];
  }

  /** Stops accepting, lets open flows finish. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    const closed = once(this.#listener, 'close');
    this.#inbound.close();
    this.#inboundUdp.close();
    this.#router?.destroy();
    this.#listener.close();
    this.#server.close();
    for (const s of this.#sockets) s.end();
    await closed;
  }

  /** Drops every client now. */
  destroy(): void {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    this.#inbound.close();
    this.#inboundUdp.close();
    this.#router?.destroy();
    this.#listener.close();
    this.#server.close();
    for (const s of this.#sockets) s.destroy();
  }

  #serverOnConnection(socket: Socket): void {
    this.#sockets.add(socket);
    this.counters.clientsConnected++;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    socket.on('close', () => {
      this.#sockets.delete(socket);
      this.counters.clientsConnected--;
      this.#log.info('client disconnected', { clients: this.counters.clientsConnected });
      this.#armIdleExit();
    });
    sniffCarrier(socket, {
      mux: (rest) => this.#muxCarrier(socket, rest),
      http2: () => this.#server.emit('connection', socket),
    });
  }

  #muxCarrier(socket: Socket, rest: Buffer): void {
    this.counters.carriersTotal++;
    serveMuxCarrier(socket, rest, {
      log: this.#log,
      tokenOk: (token) => {
        const ok = timingSafeEqual(digest(`Bearer ${token}`), this.#tokenDigest);
        if (!ok) this.counters.authFailures++;
        return ok;
      },
      info: { version: RELAY_VERSION, node: process.version },
      // One token check per carrier (at HELLO): its streams are the session's.
      onStream: (stream, headers) => this.#serverOnStream(stream, headers, true),
    });
  }

  #armIdleExit(): void {
    if (
      this.#closed ||
      this.#router ||
      this.#config.idleExitMs <= 0 ||
      this.counters.clientsConnected > 0 ||
      this.#idleTimer
    )
      return;
    this.#idleTimer = setTimeout(() => {
      this.#log.info('no client for a while; exiting', { idleExitMs: this.#config.idleExitMs });
      this.#onIdle();
    }, this.#config.idleExitMs);
    this.#idleTimer.unref();
  }

  #serverOnCarrier(h2: http2.ServerHttp2Session): void {
    this.counters.carriersTotal++;
    h2.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    h2.on('error', (err) => this.#log.warn('carrier error', { error: err.message }));
    this.#log.info('carrier started', {
      clients: this.counters.clientsConnected,
      carriers: this.counters.carriersTotal,
    });
  }

  #serverOnStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, authenticated = false): void {
    stream.on('error', () => {});
    const route = this.#route(headers, authenticated);
    switch (route.kind) {
      case 'refuse':
        if (route.status === 407) {
          this.counters.authFailures++;
          this.#log.warn('stream without a valid token refused', { method: headers[':method'] });
        }
        if (route.outcome.error === 'connection_limit_reached') this.counters.limitRefusals++;
        if (!stream.destroyed) {
          stream.respond(
            { ':status': route.status, [HEADER_PROXY_STATUS]: formatProxyStatus(route.outcome) },
            { endStream: true },
          );
        }
        return;
      case 'info':
        this.#info(stream);
        return;
      case 'router':
        this.#router?.onStream(stream, headers);
        return;
      case 'resolve':
        void relayResolve(stream, route.query);
        return;
      case 'accept': {
        this.counters.flowsOpen++;
        const ctx = this.#flowContext(
          route.udp ? this.#config.udpIdleMs : this.#config.tcpIdleMs,
          this.#config.connectTimeoutMs,
          route.udp,
        );
        const parking = route.udp
          ? this.#inboundUdp.park(stream, route.port, ctx)
          : this.#inbound.park(stream, route.port, ctx);
        parking.catch((err: NodeJS.ErrnoException) => {
          ctx.release();
          this.#log.warn('cannot listen for inbound connections', { port: route.port, error: err.message });
          if (!stream.destroyed)
            stream.respond(
              {
                ':status': 502,
                [HEADER_PROXY_STATUS]: formatProxyStatus({
                  error: 'proxy_internal_error',
                  details: `cannot listen on port ${route.port}: ${err.code ?? err.message}`,
                }),
              },
              { endStream: true },
            );
        });
        return;
      }
      case 'tcp':
      case 'udp': {
        const udp = route.kind === 'udp';
        if (udp) this.counters.udpFlowsTotal++;
        else this.counters.tcpFlowsTotal++;
        this.counters.flowsOpen++;
        const ctx = this.#flowContext(
          udp ? this.#config.udpIdleMs : this.#config.tcpIdleMs,
          route.connectTimeoutMs,
          udp,
        );
        if (udp) relayUdp(stream, route.host, route.port, ctx);
        else relayTcp(stream, route.host, route.port, ctx);
        return;
      }
    }
  }

  /** What to do with a new stream, from its headers alone. */
  #route(headers: http2.IncomingHttpHeaders, authenticated: boolean): Route {
    const refuse = (status: number, error: ProxyErrorType, details: string): Route => ({
      kind: 'refuse',
      status,
      outcome: { error, details },
    });
    const auth = headers[HEADER_AUTHORIZATION];
    if (!authenticated && (typeof auth !== 'string' || !timingSafeEqual(digest(auth), this.#tokenDigest))) {
      return refuse(407, 'http_request_denied', 'missing or wrong token');
    }
    const method = headers[':method'];
    if (method === 'GET') {
      const url = new URL(headers[':path'] ?? '/', 'http://relay');
      if (url.pathname === RESOLVE_PATH) return { kind: 'resolve', query: url.searchParams };
      if (url.pathname === INFO_PATH) return { kind: 'info' };
      return refuse(404, 'http_request_error', `no such path ${url.pathname}`);
    }
    if (this.#router) return { kind: 'router' };
    if (method !== 'CONNECT') return refuse(405, 'http_request_error', `method ${method} not supported`);
    const target = parseAuthority(headers[':authority']);
    if (!target) return refuse(400, 'http_request_error', `bad authority ${headers[':authority']}`);
    if (this.counters.flowsOpen >= this.#config.maxStreams) {
      return refuse(503, 'connection_limit_reached', `${this.counters.flowsOpen} flows open`);
    }
    const accept = headers[HEADER_ACCEPT];
    if (accept !== undefined) {
      if (accept !== ACCEPT_TCP && accept !== ACCEPT_UDP)
        return refuse(400, 'http_request_error', `unknown accept transport ${accept}`);
      if (target.port < INBOUND_PORT_MIN || target.port > INBOUND_PORT_MAX)
        return refuse(400, 'http_request_error', `inbound ports are ${INBOUND_PORT_MIN}-${INBOUND_PORT_MAX}`);
      return { kind: 'accept', port: target.port, udp: accept === ACCEPT_UDP };
    }
    const transport = headers[HEADER_TRANSPORT] ?? TRANSPORT_TCP;
    if (transport !== TRANSPORT_TCP && transport !== TRANSPORT_UDP) {
      return refuse(400, 'http_request_error', `unknown transport ${transport}`);
    }
    const requested = Number(headers[HEADER_CONNECT_TIMEOUT]);
    const connectTimeoutMs =
      Number.isInteger(requested) && requested > 0
        ? Math.min(requested, this.#config.connectTimeoutMs)
        : this.#config.connectTimeoutMs;
    return {
      kind: transport === TRANSPORT_UDP ? 'udp' : 'tcp',
      host: target.host,
      port: target.port,
      connectTimeoutMs,
    };
  }

  #flowContext(idleMs: number, connectTimeoutMs: number, udp: boolean): FlowContext {
    let released = false;
    const counters = this.counters;
    const log = this.#log;
    return {
      log,
      idleMs,
      connectTimeoutMs,
      // Dials take well under a millisecond inside a cluster: a clock with a fraction.
      now: () => performance.now(),
      dialed(host, port, elapsedMs) {
        if (log.enabled('debug'))
          log.debug('dialed', { proto: udp ? 'udp' : 'tcp', target: `${host}:${port}`, elapsedMs });
      },
      dialFailed(outcome, host, port, elapsedMs) {
        counters.dialFailures[outcome.error] = (counters.dialFailures[outcome.error] ?? 0) + 1;
        log.info('dial failed', {
          proto: udp ? 'udp' : 'tcp',
          target: `${host}:${port}`,
          error: outcome.error,
          details: outcome.details,
          elapsedMs,
        });
      },
      counted(toTarget, fromTarget) {
        counters.bytesToTargets += toTarget;
        counters.bytesFromTargets += fromTarget;
      },
      dropped(n) {
        counters.datagramsDropped += n;
      },
      release() {
        if (released) return;
        released = true;
        counters.flowsOpen--;
      },
    };
  }

  #info(stream: http2.ServerHttp2Stream): void {
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(
      JSON.stringify({
        protocol: TUNNEL_PROTOCOL_VERSION,
        version: RELAY_VERSION,
        node: process.version,
        uptimeMs: Date.now() - this.#started,
        counters: {
          ...this.counters,
          inboundAccepted: this.#inbound.counters.connectionsAccepted,
          inboundDropped: this.#inbound.counters.connectionsDropped,
          inboundUdpFlows: this.#inboundUdp.counters.flowsAccepted,
          inboundUdpDropped: this.#inboundUdp.counters.datagramsDropped,
        },
        inboundPorts: this.#inbound.ports,
        inboundUdpPorts: this.#inboundUdp.ports,
        ...(this.#router ? { router: this.#router.info() } : {}),
      }),
    );
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
