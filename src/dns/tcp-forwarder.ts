// Queries forwarded over one DNS-over-TCP connection, pipelined (RFC 7766
// §6.2.1: many queries outstanding, answers in any order, matched by id).
// Used for the cluster DNS through the tunnel (the connection comes from
// the Dialer) and as the TCP fallback toward upstream servers. Our own ids
// replace the client's; every query has a deadline; a connection that dies
// with queries outstanding is redialled once for them.
import type { Duplex } from 'node:stream';
import { ForwardError } from './errors.js';
import { FrameDecoder, frame } from './tcp-framing.js';

export interface Forwarder {
  /** Sends a DNS message; resolves with the answer (its id is ours, not the caller's). */
  query(message: Uint8Array): Promise<Uint8Array>;
  close(): void;
}

export const FORWARD_TIMEOUT_MS = 2000;
export const FORWARD_MAX_IN_FLIGHT = 512;
/** An idle connection is closed after this long (the tunnel stream is released). */
export const FORWARD_IDLE_CLOSE_MS = 20_000;

export interface DnsTcpForwarderOptions {
  /** Opens a fresh connection to the server (e.g. Dialer.dialTcp to kube-dns:53). */
  connect(signal: AbortSignal): Promise<Duplex>;
  /** For error messages: "cluster DNS 10.96.0.10:53". */
  label: string;
  timeoutMs?: number;
  maxInFlight?: number;
  idleCloseMs?: number;
}

interface Pending {
  id: number;
  message: Buffer;
  deadline: number;
  resolve(answer: Uint8Array): void;
  reject(err: Error): void;
  /** The connection it was written on, if any. */
  conn: Connection | undefined;
  retried: boolean;
  done: boolean;
}

interface Connection {
  stream: Duplex | undefined;
  ready: boolean;
  abort: AbortController;
  answered: number;
}

export class DnsTcpForwarder implements Forwarder {
  readonly #options: Required<Omit<DnsTcpForwarderOptions, 'connect' | 'label'>> & DnsTcpForwarderOptions;
  readonly #pending = new Map<number, Pending>();
  /** Deadline order: all queries share one timeout, so arrival order is deadline order. */
  #fifo: Pending[] = [];
  #unsent: Pending[] = [];
  #conn: Connection | undefined;
  #nextId = Math.floor(Math.random() * 0x10000);
  #timer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: DnsTcpForwarderOptions) {
    this.#options = {
      timeoutMs: FORWARD_TIMEOUT_MS,
      maxInFlight: FORWARD_MAX_IN_FLIGHT,
      idleCloseMs: FORWARD_IDLE_CLOSE_MS,
      ...options,
    };
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  query(message: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new ForwardError('closed', `${this.#options.label}: forwarder closed`));
    if (this.#pending.size >= this.#options.maxInFlight || message.length < 12) {
      return Promise.reject(new ForwardError('overloaded', `${this.#options.label}: too many queries in flight`));
    }
    let id = this.#nextId;
    while (this.#pending.has(id)) id = (id + 1) & 0xffff;
    this.#nextId = (id + 1) & 0xffff;
    const copy = Buffer.from(message);
    copy.writeUInt16BE(id, 0);
    return new Promise((resolve, reject) => {
      const p: Pending = {
        id,
        message: copy,
        deadline: Date.now() + this.#options.timeoutMs,
        resolve,
        reject,
        conn: undefined,
        retried: false,
        done: false,
      };
      this.#pending.set(id, p);
      this.#fifo.push(p);
      this.#armTimer();
      this.#send(p);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#idleTimer);
    for (const p of [...this.#pending.values()])
      this.#finish(p, new ForwardError('closed', `${this.#options.label}: forwarder closed`));
    this.#dropConnection(this.#conn);
  }

  #send(p: Pending): void {
    clearTimeout(this.#idleTimer);
    const conn = this.#conn ?? this.#dial();
    if (conn.ready && conn.stream) {
      p.conn = conn;
      conn.stream.write(frame(p.message));
    } else {
      this.#unsent.push(p);
    }
  }

  #dial(): Connection {
    const conn: Connection = { stream: undefined, ready: false, abort: new AbortController(), answered: 0 };
    this.#conn = conn;
    // A dial that hangs is given up after one query timeout; the next query dials again.
    const dialTimer = setTimeout(() => {
      if (!conn.ready) this.#dropConnection(conn);
    }, this.#options.timeoutMs);
    this.#options.connect(conn.abort.signal).then(
      (stream) => {
        clearTimeout(dialTimer);
        if (this.#conn !== conn || this.#closed) {
          stream.destroy();
          return;
        }
        conn.stream = stream;
        conn.ready = true;
        const decoder = new FrameDecoder();
        stream.on('data', (chunk: Buffer) => {
          decoder.push(chunk);
          for (let m = decoder.next(); m; m = decoder.next()) this.#onAnswer(conn, m);
        });
        stream.on('error', () => {});
        stream.on('close', () => this.#onConnectionClosed(conn));
        stream.on('end', () => stream.end());
        const queued = this.#unsent;
        this.#unsent = [];
        for (const p of queued) if (!p.done) this.#send(p);
      },
      (err: unknown) => {
        clearTimeout(dialTimer);
        if (this.#conn !== conn) return;
        this.#conn = undefined;
        const queued = this.#unsent;
        this.#unsent = [];
        const detail = err instanceof Error ? err.message : String(err);
        for (const p of queued)
          this.#finish(p, new ForwardError('failed', `${this.#options.label}: ${detail}`, { cause: err }));
      },
    );
    return conn;
  }

  #onAnswer(conn: Connection, message: Buffer): void {
    if (message.length < 12) return;
    const p = this.#pending.get(message.readUInt16BE(0));
    if (!p || p.conn !== conn) return;
    conn.answered++;
    p.resolve(Buffer.from(message));
    this.#complete(p);
  }

  #onConnectionClosed(conn: Connection): void {
    if (this.#conn === conn) this.#conn = undefined;
    // A server may close an idle-looking connection while our queries cross it: resend those once.
    for (const p of [...this.#pending.values()]) {
      if (p.conn !== conn) continue;
      p.conn = undefined;
      if (p.retried || this.#closed) {
        this.#finish(p, new ForwardError('failed', `${this.#options.label}: connection closed before the answer`));
      } else {
        p.retried = true;
        this.#send(p);
      }
    }
  }

  #finish(p: Pending, err: Error): void {
    if (p.done) return;
    p.reject(err);
    this.#complete(p);
  }

  #complete(p: Pending): void {
    p.done = true;
    this.#pending.delete(p.id);
    if (this.#pending.size === 0 && !this.#closed && this.#conn) {
      clearTimeout(this.#idleTimer);
      const conn = this.#conn;
      this.#idleTimer = setTimeout(() => {
        if (this.#conn === conn && this.#pending.size === 0) this.#dropConnection(conn);
      }, this.#options.idleCloseMs);
      this.#idleTimer.unref();
    }
  }

  #dropConnection(conn: Connection | undefined): void {
    if (!conn) return;
    if (this.#conn === conn) this.#conn = undefined;
    conn.abort.abort();
    conn.stream?.destroy();
  }

  #armTimer(): void {
    if (this.#timer || this.#closed) return;
    const head = this.#fifo[0];
    if (!head) return;
    this.#timer = setTimeout(() => this.#onTimer(), Math.max(0, head.deadline - Date.now()));
  }

  #onTimer(): void {
    this.#timer = undefined;
    const now = Date.now();
    let expired = 0;
    let i = 0;
    for (; i < this.#fifo.length; i++) {
      const p = this.#fifo[i] as Pending;
      if (p.done) continue;
      if (p.deadline > now) break;
      expired++;
      const stalled = p.conn;
      this.#finish(
        p,
        new ForwardError('timeout', `${this.#options.label}: no answer within ${this.#options.timeoutMs} ms`),
      );
      // A connection that never answered anything is presumed dead: the next query redials.
      if (stalled && stalled.answered === 0) this.#dropConnection(stalled);
    }
    this.#fifo = this.#fifo.slice(i).filter((p) => !p.done);
    if (expired === 0 && this.#fifo.length === 0) return;
    this.#armTimer();
  }
}
