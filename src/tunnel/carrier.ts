// One HTTP/2 connection to the relay (a carrier) over one byte stream (a port-forward).
//
//   open(): transport.connect() ─► http2.connect(createConnection) ─► SETTINGS
//           ─► GET /v1/info (token and protocol version checked) ─► up
//   while up: PING every pingIntervalMs; no answer by the next one ─► destroyed
//   closed/destroyed ─► every stream on it is reset (Node resets them), onClose(err)
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { KvpnError } from '../errors.js';
import {
  CONNECTION_WINDOW_BYTES,
  HEADER_AUTHORIZATION,
  INFO_PATH,
  MAX_CARRIER_MEMORY_MB,
  MAX_CONCURRENT_STREAMS,
  MAX_FRAME_BYTES,
  STREAM_WINDOW_BYTES,
  TUNNEL_PROTOCOL_VERSION,
} from '../relay/protocol.js';
import { CarrierLife } from './carrier-life.js';

export const CARRIER_PING_INTERVAL_MS = 10_000;
export const CARRIER_HANDSHAKE_TIMEOUT_MS = 15_000;

export class CarrierError extends KvpnError {
  constructor(message: string, options: { cause?: unknown; remedy?: string } = {}) {
    super('KVPN_ERR_TUNNEL_SESSION', 'cluster', message, options);
  }
}

export interface CarrierOptions {
  token: string;
  pingIntervalMs?: number;
  handshakeTimeoutMs?: number;
}

export interface RelayInfo {
  protocol: number;
  version: string;
  node?: string;
}

/** Which carrier: HTTP/2 (tunnel protocol 1, this file) or the mux (protocol 2, mux-carrier.ts). */
export type CarrierKind = 'h2' | 'mux';

/** What the pool and the dialer use of a carrier, whichever its kind. */
export interface TunnelCarrier {
  readonly kind: CarrierKind;
  readonly id: number;
  readonly relay: RelayInfo;
  /** No new streams: closed, closing or destroyed. */
  readonly closed: boolean;
  /** Streams opened here that have not closed yet. */
  readonly activeStreams: number;
  request(headers: http2.OutgoingHttpHeaders, options?: http2.ClientSessionRequestOptions): http2.ClientHttp2Stream;
  onClose(handler: (err?: Error) => void): void;
  close(): void;
  destroy(err?: Error): void;
}

export class Carrier implements TunnelCarrier {
  readonly kind = 'h2' as const;
  readonly id: number;
  readonly relay: RelayInfo;
  readonly #h2: http2.ClientHttp2Session;
  readonly #authorization: string;
  readonly #life: CarrierLife;
  /** Streams we opened that have not closed yet. */
  activeStreams = 0;

  private constructor(
    id: number,
    h2: http2.ClientHttp2Session,
    token: string,
    relay: RelayInfo,
    pingIntervalMs: number,
  ) {
    this.id = id;
    this.#h2 = h2;
    this.#authorization = `Bearer ${token}`;
    this.relay = relay;
    let lastError: Error | undefined;
    h2.on('error', (err: Error) => {
      lastError = err;
    });
    h2.on('goaway', (code: number) => {
      lastError ??= new CarrierError(`the relay closed the connection (GOAWAY ${code})`);
    });
    this.#life = new CarrierLife(
      id,
      h2,
      (err) => this.destroy(err),
      pingIntervalMs,
      (m) => new CarrierError(m),
    );
    h2.on('close', () => this.#life.end(lastError ?? new CarrierError('tunnel connection closed')));
  }

  /** Connects the byte stream and completes the HTTP/2 and relay handshakes. */
  static async open(id: number, socket: Duplex, options: CarrierOptions): Promise<Carrier> {
    const h2 = http2.connect('http://kvpn-relay', {
      createConnection: () => socket,
      settings: {
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxFrameSize: MAX_FRAME_BYTES,
        maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
        enablePush: false,
      },
      maxSessionMemory: MAX_CARRIER_MEMORY_MB,
      peerMaxConcurrentStreams: MAX_CONCURRENT_STREAMS,
    });
    const failed = (err: Error): CarrierError =>
      err instanceof CarrierError ? err : new CarrierError(`tunnel handshake failed: ${err.message}`, { cause: err });
    try {
      const info = await withTimeout(
        handshake(h2, `Bearer ${options.token}`),
        options.handshakeTimeoutMs ?? CARRIER_HANDSHAKE_TIMEOUT_MS,
      );
      return new Carrier(id, h2, options.token, info, options.pingIntervalMs ?? CARRIER_PING_INTERVAL_MS);
    } catch (err) {
      h2.destroy();
      socket.destroy();
      throw failed(err as Error);
    }
  }

  /** No new streams: closed, closing (GOAWAY) or destroyed, even before Node's 'close' event. */
  get closed(): boolean {
    return this.#life.ended || this.#h2.closed || this.#h2.destroyed;
  }

  /** Opens a stream with the kvpn session's token added; the caller counts it via `track`. */
  request(
    headers: http2.OutgoingHttpHeaders,
    options: http2.ClientSessionRequestOptions = {},
  ): http2.ClientHttp2Stream {
    const stream = this.#h2.request({ ...headers, [HEADER_AUTHORIZATION]: this.#authorization }, options);
    this.activeStreams++;
    // A stream emits 'close' once: one listener shared by all streams, not a once() wrapper each.
    stream.on('close', this.#streamOnClose);
    return stream;
  }

  readonly #streamOnClose = (): void => {
    this.activeStreams--;
  };

  onClose(handler: (err?: Error) => void): void {
    this.#life.onEnd(handler);
  }

  /** Graceful: GOAWAY, open streams finish. */
  close(): void {
    if (!this.#h2.closed) this.#h2.close();
  }

  /** Now: every open stream is reset. */
  destroy(err?: Error): void {
    this.#h2.destroy(err);
    this.#life.end(err ?? new CarrierError('tunnel connection destroyed'));
  }
}

async function handshake(h2: http2.ClientHttp2Session, authorization: string): Promise<RelayInfo> {
  await new Promise<void>((resolve, reject) => {
    h2.once('connect', () => resolve());
    h2.once('error', reject);
    h2.once('close', () => reject(new CarrierError('the connection to the relay closed during the handshake')));
  });
  h2.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
  const stream = h2.request(
    { ':method': 'GET', ':path': INFO_PATH, [HEADER_AUTHORIZATION]: authorization },
    { endStream: true },
  );
  const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
    let status = 0;
    let body = '';
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      if (body.length < 64 * 1024) body += chunk;
    });
    stream.on('end', () => resolve([status, body]));
    stream.on('error', reject);
    stream.on('close', () => reject(new CarrierError('the relay closed the info request')));
  });
  if (status === 407) {
    throw new CarrierError('the relay refused our token', {
      remedy: 'Another kvpn session owns this relay, or its Secret changed: run `kvpn down` and `kvpn up` again.',
    });
  }
  if (status !== 200) throw new CarrierError(`the relay answered ${status} to ${INFO_PATH}`);
  let info: RelayInfo;
  try {
    info = JSON.parse(body) as RelayInfo;
  } catch {
    throw new CarrierError('the relay sent an unreadable info document');
  }
  if (info.protocol !== TUNNEL_PROTOCOL_VERSION) {
    throw new CarrierError(`the relay speaks tunnel protocol ${info.protocol}, we speak ${TUNNEL_PROTOCOL_VERSION}`, {
      remedy: 'Delete the old relay pod (kvpn down) so a matching one is deployed.',
    });
  }
  return { protocol: info.protocol, version: info.version, node: info.node };
}

export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CarrierError(`no answer from the relay in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
