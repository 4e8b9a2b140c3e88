// Inbound connections: the cluster connects to the relay, the laptop takes
// each connection over a stream it opened beforehand (the laptop is behind
// NAT; every byte travels over connections it opens).
//
//   laptop: CONNECT 0.0.0.0:P + kvpn-accept: tcp ─► 102: parked on listener P (opened on first use,
//           on every pod address of both IP families: listen.ts)
//   cluster client ─► pod:P ─► a parked stream ─► 200 + kvpn-peer: client ─► splice
//
// A connection that finds no parked stream waits (bounded count and time)
// for the next one, else is reset. A listener with no parked stream and no
// waiting connection for a while (inboundLingerMs) closes: a laptop that is gone leaves a
// refusing port, not a black hole.
import http2 from 'node:http2';
import net from 'node:net';
import { HEADER_PEER, PARKED_STATUS } from '../protocol.js';
import { resetStream } from '../stream-reset.js';
import type { FlowContext } from './flow.js';
import { listenAllFamilies, peerName } from './listen.js';
import type { RelayLog } from './log.js';
import { resetSocket, spliceSocket } from './splice.js';

const { NGHTTP2_NO_ERROR } = http2.constants;

/** Connections that may wait for a parked stream, per listener. */
export const MAX_WAITING_CONNECTIONS = 128;

interface Parked {
  stream: http2.ServerHttp2Stream;
  ctx: FlowContext;
}

interface Waiting {
  socket: net.Socket;
  timer: NodeJS.Timeout;
}

export interface InboundCounters {
  connectionsAccepted: number;
  connectionsDropped: number;
}

class Listener {
  readonly parked: Parked[] = [];
  readonly waiting: Waiting[] = [];
  readonly server: net.Server;
  lingerTimer: NodeJS.Timeout | undefined;
  /** Settles when the server listens (or cannot): every park of the port waits for it. */
  ready: Promise<void> = Promise.resolve();

  constructor(
    readonly port: number,
    readonly owner: InboundListeners,
  ) {
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
      owner.onConnection(this, socket),
    );
  }
}

export class InboundListeners {
  readonly counters: InboundCounters = { connectionsAccepted: 0, connectionsDropped: 0 };
  readonly #listeners = new Map<number, Listener>();
  readonly #log: RelayLog;
  readonly #lingerMs: number;
  readonly #waitMs: number;

  constructor(log: RelayLog, timing: { lingerMs: number; waitMs: number }) {
    this.#log = log;
    this.#lingerMs = timing.lingerMs;
    this.#waitMs = timing.waitMs;
  }

  /** Ports with an open listener. */
  get ports(): number[] {
    return [...this.#listeners.keys()];
  }

  /** Parks `stream` on the listener for `port`, opening it first; rejects when the port cannot be listened on. */
  async park(stream: http2.ServerHttp2Stream, port: number, ctx: FlowContext): Promise<void> {
    let listener = this.#listeners.get(port);
    if (!listener) {
      const created = new Listener(port, this);
      listener = created;
      this.#listeners.set(port, created);
      created.ready = listenAllFamilies(created.server, port).then(
        () => this.#log.info('inbound listener open', { port }),
        (err: Error) => {
          if (this.#listeners.get(port) === created) this.#listeners.delete(port);
          throw err;
        },
      );
    }
    await listener.ready;
    if (stream.destroyed) return ctx.release();
    const parked = { stream, ctx };
    clearTimeout(listener.lingerTimer);
    listener.lingerTimer = undefined;
    const owner = listener;
    stream.once('close', () => {
      const i = owner.parked.indexOf(parked);
      if (i === -1) return; // taken by a connection: the splice owns it now
      owner.parked.splice(i, 1);
      ctx.release();
      this.#maybeLinger(owner);
    });
    // 102: parked, the listener is open (the laptop may now tell the user the port is served).
    stream.additionalHeaders({ ':status': PARKED_STATUS });
    const waiting = listener.waiting.shift();
    if (waiting) {
      clearTimeout(waiting.timer);
      this.#join(parked, waiting.socket);
    } else listener.parked.push(parked);
  }

  onConnection(listener: Listener, socket: net.Socket): void {
    socket.on('error', () => {});
    let parked = listener.parked.shift();
    // A parked stream whose carrier just died may not have reported its close yet.
    while (parked?.stream.destroyed) {
      parked.ctx.release();
      parked = listener.parked.shift();
    }
    if (parked) {
      this.#join(parked, socket);
      return;
    }
    if (listener.waiting.length >= MAX_WAITING_CONNECTIONS) {
      this.counters.connectionsDropped++;
      resetSocket(socket);
      return;
    }
    const waiting: Waiting = {
      socket,
      timer: setTimeout(() => {
        const i = listener.waiting.indexOf(waiting);
        if (i !== -1) listener.waiting.splice(i, 1);
        this.counters.connectionsDropped++;
        this.#log.info('inbound connection reset: the laptop took none in time', {
          port: listener.port,
          waitedMs: this.#waitMs,
        });
        resetSocket(socket);
        this.#maybeLinger(listener);
      }, this.#waitMs),
    };
    listener.waiting.push(waiting);
    socket.once('close', () => {
      const i = listener.waiting.indexOf(waiting);
      if (i === -1) return;
      listener.waiting.splice(i, 1);
      clearTimeout(waiting.timer);
    });
  }

  /** Closes every listener and resets what waits. */
  close(): void {
    for (const l of this.#listeners.values()) {
      clearTimeout(l.lingerTimer);
      for (const w of l.waiting) {
        clearTimeout(w.timer);
        resetSocket(w.socket);
      }
      l.server.close();
    }
    this.#listeners.clear();
  }

  #join({ stream, ctx }: Parked, socket: net.Socket): void {
    this.counters.connectionsAccepted++;
    const peer = peerName(socket);
    let clientEnded = false;
    stream.on('close', () => {
      const clean = stream.rstCode === NGHTTP2_NO_ERROR && clientEnded && stream.writableFinished;
      if (!clean) resetSocket(socket);
      ctx.release();
    });
    // The cluster client reset the connection: RST_STREAM(CONNECT_ERROR) toward the laptop.
    socket.on('error', () => resetStream(stream));
    if (stream.destroyed) {
      resetSocket(socket);
      return;
    }
    stream.respond({ ':status': 200, [HEADER_PEER]: peer });
    spliceSocket(
      stream,
      socket,
      ctx,
      `inbound ${peer}`,
      () => {
        clientEnded = true;
      },
      false,
    );
  }

  /** Arms the linger timer once nothing is parked; connections that wait do not keep the listener open. */
  #maybeLinger(listener: Listener): void {
    if (listener.parked.length || listener.lingerTimer) return;
    listener.lingerTimer = setTimeout(() => {
      listener.lingerTimer = undefined;
      if (listener.parked.length) return;
      this.#listeners.delete(listener.port);
      listener.server.close();
      for (const w of listener.waiting.splice(0)) {
        clearTimeout(w.timer);
        this.counters.connectionsDropped++;
        resetSocket(w.socket);
      }
      this.#log.info('inbound listener closed: nothing parked', { port: listener.port, lingerMs: this.#lingerMs });
    }, this.#lingerMs);
    listener.lingerTimer.unref();
  }
}
