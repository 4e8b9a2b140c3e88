// The laptop's side of inbound connections: keeps a few streams parked on
// the relay's listener for one port (TunnelDialer.accept), and joins each
// connection the cluster makes there to a new TCP connection to the local
// port. A parked stream is replaced as soon as it is taken, so a connection
// costs no round trip before its bytes flow; only a burst larger than the
// parked count waits one.
//
//   cluster client ─► relay :port ─► parked stream ─► net.connect(127.0.0.1:localPort)
//   local refusal ─► the stream reset ─► the cluster client gets a reset
import dgram from 'node:dgram';
import net from 'node:net';
import { TunnelDatagramFlow } from './datagram-flow.js';
import type { TunnelConnection } from './tcp-connection.js';

/** Streams kept parked per forwarded port. */
export const DEFAULT_PARKED_STREAMS = 4;
const RETRY_MIN_MS = 200;
/** Datagrams of a new UDP flow held while its local socket connects. */
const EARLY_DATAGRAMS = 64;
const RETRY_MAX_MS = 5000;

export interface InboundAcceptor {
  accept(port: number, signal: AbortSignal, onParked?: () => void): Promise<TunnelConnection>;
  acceptUdp(
    port: number,
    signal: AbortSignal,
    onParked?: () => void,
  ): Promise<{ flow: TunnelDatagramFlow; peer: string | undefined }>;
}

export interface InboundForwarderOptions {
  /** The relay's listener port. */
  port: number;
  localPort: number;
  localHost?: string;
  /** tcp (default): one connection per parked stream; udp: one flow per cluster source. */
  protocol?: 'tcp' | 'udp';
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
  readonly #counts = { accepted: 0, localErrors: 0, bytesIn: 0, bytesOut: 0 };
  readonly #acceptor: InboundAcceptor;
  readonly #opts: Required<Omit<InboundForwarderOptions, 'onLocalError' | 'onAcceptError'>> &
    Pick<InboundForwarderOptions, 'onLocalError' | 'onAcceptError'>;
  readonly #abort = new AbortController();
  readonly #open = new Set<{ conn: TunnelConnection | TunnelDatagramFlow; socket: net.Socket | dgram.Socket }>();
  #parked!: () => void;
  /** Resolves once the relay has confirmed a parked stream: its listener is open. */
  readonly listening = new Promise<void>((resolve) => {
    this.#parked = resolve;
  });

  constructor(acceptor: InboundAcceptor, options: InboundForwarderOptions) {
    this.#acceptor = acceptor;
    this.#opts = { localHost: '127.0.0.1', parked: DEFAULT_PARKED_STREAMS, protocol: 'tcp', ...options };
  }

  start(): void {
    for (let i = 0; i < this.#opts.parked; i++) void this.#acceptLoop();
  }

  /** Stops parking and resets every open connection. */
  close(): void {
    this.#abort.abort(new Error('inbound forwarding stopped'));
    for (const { conn, socket } of this.#open) {
      // A UDP flow's close closes its socket (serveUdpFlow).
      if (conn instanceof TunnelDatagramFlow) conn.close();
      else {
        conn.destroy();
        (socket as net.Socket).destroy();
      }
    }
    this.#open.clear();
  }

  async #acceptLoop(): Promise<void> {
    const signal = this.#abort.signal;
    let delay = RETRY_MIN_MS;
    while (!signal.aborted) {
      let conn: TunnelConnection | TunnelDatagramFlow;
      try {
        conn =
          this.#opts.protocol === 'udp'
            ? (await this.#acceptor.acceptUdp(this.#opts.port, signal, this.#parked)).flow
            : await this.#acceptor.accept(this.#opts.port, signal, this.#parked);
      } catch (err) {
        if (signal.aborted) return;
        this.#opts.onAcceptError?.(err as Error);
        await sleep(delay * (0.5 + Math.random() / 2), signal);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
        continue;
      }
      delay = RETRY_MIN_MS;
      if (conn instanceof TunnelDatagramFlow) {
        if (signal.aborted) return conn.close();
        this.#serveUdp(conn);
        continue;
      }
      if (signal.aborted) {
        conn.destroy();
        return;
      }
      this.#serve(conn);
    }
  }

  /** Counters; `active` is the connections and flows open now. */
  get stats(): InboundStats {
    return { ...this.#counts, active: this.#open.size };
  }

  #serveUdp(flow: TunnelDatagramFlow): void {
    this.#counts.accepted++;
    const socket = serveUdpFlow(
      flow,
      this.#opts,
      this.#counts,
      (err) => this.#opts.onLocalError?.(err, undefined),
      () => this.#open.delete(pair),
    );
    const pair = { conn: flow, socket };
    this.#open.add(pair);
  }

  #serve(conn: TunnelConnection): void {
    this.#counts.accepted++;
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
    };
    conn.once('close', onClose);
    socket.once('close', onClose);
    conn.on('error', () => {
      // A reset from the cluster side: reset the local connection too.
      if (!socket.destroyed) socket.resetAndDestroy();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        this.#counts.localErrors++;
        this.#opts.onLocalError?.(err, conn.peer);
      }
      conn.destroy(err);
    });
    socket.once('connect', () => {
      connected = true;
      conn.on('data', (chunk: Buffer) => {
        this.#counts.bytesIn += chunk.length;
      });
      socket.on('data', (chunk: Buffer) => {
        this.#counts.bytesOut += chunk.length;
      });
      conn.pipe(socket);
      socket.pipe(conn);
    });
  }
}

/** One cluster source's datagrams, to and from a UDP socket connected to the local port. */
function serveUdpFlow(
  flow: TunnelDatagramFlow,
  opts: { localHost: string; localPort: number },
  stats: Omit<InboundStats, 'active'>,
  onLocalError: (err: NodeJS.ErrnoException) => void,
  onEnd: (socket: dgram.Socket) => void,
): dgram.Socket {
  const socket = dgram.createSocket(net.isIPv6(opts.localHost) ? 'udp6' : 'udp4');
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    socket.close();
    flow.close();
    onEnd(socket);
  };
  // ICMP port unreachable on a connected socket: nothing listens locally. UDP drops it; the laptop is told.
  socket.on('error', (err: NodeJS.ErrnoException) => {
    stats.localErrors++;
    onLocalError(err);
  });
  socket.on('message', (msg: Buffer) => {
    stats.bytesOut += msg.length;
    flow.send(msg);
  });
  // The first datagram arrives with the flow: hold a few until the socket is connected.
  let early: Uint8Array[] | undefined = [];
  flow.onDatagram((datagram) => {
    stats.bytesIn += datagram.length;
    if (closed) return;
    if (!early) socket.send(datagram);
    else if (early.length < EARLY_DATAGRAMS) early.push(datagram);
  });
  socket.connect(opts.localPort, opts.localHost, () => {
    for (const d of early ?? []) if (!closed) socket.send(d);
    early = undefined;
  });
  flow.onClose(() => queueMicrotask(close));
  return socket;
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
