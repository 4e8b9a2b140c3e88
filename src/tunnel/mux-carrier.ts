// One mux carrier (tunnel protocol 2, src/relay/mux-session.ts) over one
// byte stream: the lean alternative to the HTTP/2 carrier (carrier.ts),
// with the same surface, so the pool and the dialer use either.
//
//   open(): preface + HELLO {token} ─► HELLO {protocol, version} ─► up
//   while up: PING every pingIntervalMs; no answer by the next one ─► destroyed
//
// Its streams are MuxStreams: the subset of ClientHttp2Stream the tunnel
// uses (mux-stream.ts), handed out as that type.
import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { MUX_PROTOCOL_VERSION } from '../relay/mux-frame.js';
import { MuxSession } from '../relay/mux-session.js';
import type { MuxHeaders } from '../relay/mux-stream.js';
import { CONNECTION_WINDOW_BYTES, HEADER_AUTHORIZATION, STREAM_WINDOW_BYTES } from '../relay/protocol.js';
import {
  CARRIER_HANDSHAKE_TIMEOUT_MS,
  CARRIER_PING_INTERVAL_MS,
  CarrierError,
  type CarrierOptions,
  type RelayInfo,
  type TunnelCarrier,
  withTimeout,
} from './carrier.js';
import { CarrierLife } from './carrier-life.js';

/** The relay answered the mux preface as an HTTP/2 server: it predates tunnel protocol 2. */
export class RelayWithoutMuxError extends CarrierError {}

export class MuxCarrier implements TunnelCarrier {
  readonly kind = 'mux' as const;
  readonly id: number;
  readonly relay: RelayInfo;
  activeStreams = 0;
  readonly #session: MuxSession;
  readonly #life: CarrierLife;

  private constructor(id: number, session: MuxSession, relay: RelayInfo, pingIntervalMs: number) {
    this.id = id;
    this.#session = session;
    this.relay = relay;
    this.#life = new CarrierLife(
      id,
      session,
      (err) => this.destroy(err),
      pingIntervalMs,
      (m) => new CarrierError(m),
    );
    session.on('close', (err?: Error) => this.#life.end(err ?? new CarrierError('tunnel connection closed')));
  }

  static async open(id: number, socket: Duplex, options: CarrierOptions): Promise<MuxCarrier> {
    let session: MuxSession | undefined;
    const connecting = MuxSession.connect(
      socket,
      { token: options.token, protocol: MUX_PROTOCOL_VERSION },
      {
        streamWindow: STREAM_WINDOW_BYTES,
        connectionWindow: CONNECTION_WINDOW_BYTES,
      },
    );
    try {
      const { session: up, reply } = await withTimeout(
        connecting,
        options.handshakeTimeoutMs ?? CARRIER_HANDSHAKE_TIMEOUT_MS,
      );
      session = up;
      if (reply.protocol !== MUX_PROTOCOL_VERSION)
        throw new CarrierError(`the relay speaks tunnel protocol ${reply.protocol}, we speak ${MUX_PROTOCOL_VERSION}`, {
          remedy: 'Delete the old relay pod (kvpn down) so a matching one is deployed.',
        });
      return new MuxCarrier(
        id,
        up,
        { protocol: MUX_PROTOCOL_VERSION, version: String(reply.version ?? ''), node: reply.node as string },
        options.pingIntervalMs ?? CARRIER_PING_INTERVAL_MS,
      );
    } catch (err) {
      session?.destroy();
      socket.destroy();
      const e = err as Error;
      if (e instanceof CarrierError) throw e;
      if (/HTTP\/2/.test(e.message)) throw new RelayWithoutMuxError(e.message, { cause: e });
      if (/token/.test(e.message))
        throw new CarrierError('the relay refused our token', {
          remedy: 'Another kvpn session owns this relay, or its Secret changed: run `kvpn down` and `kvpn up` again.',
        });
      throw new CarrierError(`tunnel handshake failed: ${e.message}`, { cause: e });
    }
  }

  get closed(): boolean {
    return this.#life.ended || this.#session.closed;
  }

  /** Opens a stream (the carrier was authenticated once, at HELLO). */
  request(
    headers: http2.OutgoingHttpHeaders,
    options: http2.ClientSessionRequestOptions = {},
  ): http2.ClientHttp2Stream {
    const { [HEADER_AUTHORIZATION]: _token, ...rest } = headers;
    const stream = this.#session.request(rest as MuxHeaders, { endStream: options.endStream === true });
    this.activeStreams++;
    stream.on('close', this.#streamOnClose);
    // The subset of ClientHttp2Stream the tunnel uses (src/relay/mux-stream.ts).
    return stream as unknown as http2.ClientHttp2Stream;
  }

  readonly #streamOnClose = (): void => {
    this.activeStreams--;
  };

  onClose(handler: (err?: Error) => void): void {
    this.#life.onEnd(handler);
  }

  close(): void {
    this.#session.close();
  }

  destroy(err?: Error): void {
    this.#session.destroy(err);
    this.#life.end(err ?? new CarrierError('tunnel connection destroyed'));
  }
}
