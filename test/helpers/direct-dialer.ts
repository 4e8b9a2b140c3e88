// A Dialer that connects to real local sockets: tests and benchmarks use it
// to put the stack between a client and a server on this machine. `map`
// turns the address the application dialed (e.g. 10.200.0.5:80) into a
// real one (e.g. 127.0.0.1:80); null means "no route" (unreachable).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { systemErrorCode } from '../../src/errors.js';
import { classifySocketError } from '../../src/relay/protocol.js';
import {
  type DatagramFlow,
  DialError,
  type Dialer,
  type DialFailureReason,
  type DialRequest,
  type Endpoint,
} from '../../src/tun/stack/index.js';
import { dialFailureReason } from '../../src/tunnel/dial-failure.js';

export type EndpointMap = (destination: Endpoint, request: DialRequest) => Endpoint | null;

export interface DirectDialerOptions {
  /** Destination → real endpoint; or a Map keyed "address:port" or "address". */
  map: EndpointMap | Map<string, Endpoint | string>;
  connectTimeoutMs?: number;
  /** Datagrams a UDP flow may have in the socket's send queue. */
  udpSendQueue?: number;
}

/**
 * Shorter than a real dial's 30 s (src/tunnel/dialer.ts, and the relay's cap in
 * src/relay/server/config.ts): a test's dead target should fail fast.
 */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The answer a dial through the relay would give for this socket error: the
 * relay's table (classifySocketError), then the client's reading of it.
 */
export function dialReasonFor(err: unknown): DialFailureReason {
  const outcome = classifySocketError(systemErrorCode(err), err instanceof Error ? err.message : String(err));
  return dialFailureReason(outcome.status, outcome);
}

export class DirectDialer implements Dialer {
  readonly #map: EndpointMap;
  readonly #timeoutMs: number;
  readonly #udpQueue: number;

  constructor(options: DirectDialerOptions) {
    const m = options.map;
    this.#map = typeof m === 'function' ? m : (d) => lookup(m, d);
    this.#timeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.#udpQueue = options.udpSendQueue ?? 256;
  }

  dialTcp(request: DialRequest): Promise<Duplex> {
    const target = this.#map(request.destination, request);
    const where = `${request.destination.address}:${request.destination.port}`;
    if (target === null) return Promise.reject(new DialError('unreachable', `no route to ${where}`));
    return new Promise<Duplex>((resolve, reject) => {
      const socket: Socket = connect({ host: target.address, port: target.port, allowHalfOpen: true, noDelay: true });
      const fail = (reason: DialFailureReason, message: string, cause?: unknown) => {
        cleanup();
        socket.destroy();
        reject(new DialError(reason, message, { cause }));
      };
      const onError = (err: Error) => fail(dialReasonFor(err), `dial ${where}: ${err.message}`, err);
      const onConnect = () => {
        cleanup();
        resetOnError(socket);
        resolve(socket);
      };
      const onAbort = () => fail('error', `dial ${where} aborted`);
      const timer = setTimeout(
        () => fail('timeout', `dial ${where} timed out after ${this.#timeoutMs} ms`),
        this.#timeoutMs,
      );
      const cleanup = () => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off('connect', onConnect);
        request.signal.removeEventListener('abort', onAbort);
      };
      socket.once('error', onError);
      socket.once('connect', onConnect);
      if (request.signal.aborted) onAbort();
      else request.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  openUdp(request: DialRequest): Promise<DatagramFlow> {
    const target = this.#map(request.destination, request);
    const where = `${request.destination.address}:${request.destination.port}`;
    if (target === null) return Promise.reject(new DialError('unreachable', `no route to ${where}`));
    return new Promise<DatagramFlow>((resolve, reject) => {
      const socket = createSocket(target.address.includes(':') ? 'udp6' : 'udp4');
      const onError = (err: Error) => {
        socket.close();
        reject(new DialError(dialReasonFor(err), `udp ${where}: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.connect(target.port, target.address, () => {
        socket.off('error', onError);
        resolve(new DirectDatagramFlow(socket, this.#udpQueue));
      });
    });
  }
}

/**
 * The Dialer contract says destroy(err) is a reset: make it one on the
 * wire (RST, not FIN), so the server sees ECONNRESET like the app did.
 */
function resetOnError(socket: Socket): void {
  const destroy = socket.destroy.bind(socket);
  socket.destroy = (err?: Error) => {
    if (err !== undefined && !socket.destroyed) {
      socket.resetAndDestroy();
      return socket;
    }
    return destroy(err);
  };
}

function lookup(map: Map<string, Endpoint | string>, d: Endpoint): Endpoint | null {
  const hit = map.get(`${d.address}:${d.port}`) ?? map.get(d.address);
  if (hit === undefined) return null;
  return typeof hit === 'string' ? { address: hit, port: d.port } : hit;
}

class DirectDatagramFlow implements DatagramFlow {
  readonly #socket: UdpSocket;
  readonly #queueLimit: number;
  #closeHandler: ((err?: Error) => void) | null = null;
  #closed = false;

  constructor(socket: UdpSocket, queueLimit: number) {
    this.#socket = socket;
    this.#queueLimit = queueLimit;
    socket.on('error', (err) => {
      // A connected UDP socket reports ICMP port unreachable as ECONNREFUSED.
      this.#finish(new DialError(dialReasonFor(err), err.message, { cause: err }));
    });
  }

  send(datagram: Uint8Array): boolean {
    if (this.#closed || this.#socket.getSendQueueCount() >= this.#queueLimit) return false;
    this.#socket.send(datagram);
    return true;
  }

  onDatagram(handler: (datagram: Uint8Array) => void): void {
    this.#socket.on('message', handler);
  }

  onClose(handler: (err?: Error) => void): void {
    this.#closeHandler = handler;
  }

  close(): void {
    this.#finish();
  }

  #finish(err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close();
    const h = this.#closeHandler;
    this.#closeHandler = null;
    h?.(err);
  }
}
