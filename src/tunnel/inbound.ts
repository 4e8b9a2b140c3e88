// The laptop's side of inbound connections: keeps a few streams parked on
// the relay's listener for one port (TunnelDialer.accept), and joins each
// connection the cluster makes there to a new TCP connection to the local
// port. A parked stream is replaced as soon as it is taken, so a connection
// costs no round trip before its bytes flow; only a burst larger than the
// parked count waits one.
//
//   cluster client ─► relay :port ─► parked stream ─► net.connect(127.0.0.1:localPort)
//   local refusal ─► the stream reset ─► the cluster client gets a reset
import net from 'node:net';
import type { TunnelConnection } from './tcp-connection.js';

/** Streams kept parked per forwarded port. */
export const DEFAULT_PARKED_STREAMS = 4;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;

export interface InboundAcceptor {
  accept(port: number, signal: AbortSignal, onParked?: () => void): Promise<TunnelConnection>;
}

export interface InboundForwarderOptions {
  /** The relay's listener port. */
  port: number;
  localPort: number;
  localHost?: string;
  parked?: number;
  /** The local port refused a connection (called for each; the caller warns once). */
  onLocalError?: (err: NodeJS.ErrnoException, peer: string | undefined) => void;
  /** Parking failed (tunnel down, relay refused); retried with backoff. */
  onAcceptError?: (err: Error) => void;
}

export interface InboundStats {
  accepted: number;
  active: number;
  localErrors: number;
  bytesIn: number;
  bytesOut: number;
}

export class InboundForwarder {
  readonly stats: InboundStats = { accepted: 0, active: 0, localErrors: 0, bytesIn: 0, bytesOut: 0 };
  readonly #acceptor: InboundAcceptor;
  readonly #opts: Required<Omit<InboundForwarderOptions, 'onLocalError' | 'onAcceptError'>> &
    Pick<InboundForwarderOptions, 'onLocalError' | 'onAcceptError'>;
  readonly #abort = new AbortController();
  readonly #open = new Set<{ conn: TunnelConnection; socket: net.Socket }>();
  #parked!: () => void;
  /** Resolves once the relay has confirmed a parked stream: its listener is open. */
  readonly listening = new Promise<void>((resolve) => {
    this.#parked = resolve;
  });

  constructor(acceptor: InboundAcceptor, options: InboundForwarderOptions) {
    this.#acceptor = acceptor;
    this.#opts = { localHost: '127.0.0.1', parked: DEFAULT_PARKED_STREAMS, ...options };
  }

  start(): void {
    for (let i = 0; i < this.#opts.parked; i++) void this.#acceptLoop();
  }

  /** Stops parking and resets every open connection. */
  close(): void {
    this.#abort.abort(new Error('inbound forwarding stopped'));
    for (const { conn, socket } of this.#open) {
      conn.destroy();
      socket.destroy();
    }
    this.#open.clear();
  }

  async #acceptLoop(): Promise<void> {
    const signal = this.#abort.signal;
    let delay = RETRY_MIN_MS;
    while (!signal.aborted) {
      let conn: TunnelConnection;
      try {
        conn = await this.#acceptor.accept(this.#opts.port, signal, this.#parked);
      } catch (err) {
        if (signal.aborted) return;
        this.#opts.onAcceptError?.(err as Error);
        await sleep(delay * (0.5 + Math.random() / 2), signal);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
        continue;
      }
      delay = RETRY_MIN_MS;
      if (signal.aborted) {
        conn.destroy();
        return;
      }
      this.#serve(conn);
    }
  }

  #serve(conn: TunnelConnection): void {
    this.stats.accepted++;
    this.stats.active++;
    const socket = net.connect({
      host: this.#opts.localHost,
      port: this.#opts.localPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    const pair = { conn, socket };
    this.#open.add(pair);
    let connected = false;
    let closed = 0;
    const onClose = (): void => {
      if (++closed < 2) return;
      this.#open.delete(pair);
      this.stats.active--;
    };
    conn.once('close', onClose);
    socket.once('close', onClose);
    conn.on('error', () => {
      // A reset from the cluster side: reset the local connection too.
      if (!socket.destroyed) socket.resetAndDestroy();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        this.stats.localErrors++;
        this.#opts.onLocalError?.(err, conn.peer);
      }
      conn.destroy(err);
    });
    socket.once('connect', () => {
      connected = true;
      conn.on('data', (chunk: Buffer) => {
        this.stats.bytesIn += chunk.length;
      });
      socket.on('data', (chunk: Buffer) => {
        this.stats.bytesOut += chunk.length;
      });
      conn.pipe(socket);
      socket.pipe(conn);
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
