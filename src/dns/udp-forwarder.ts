// Queries forwarded to the machine's original DNS servers (resolv.conf
// mode), directly over UDP, never through the tunnel. Each query gets a
// random id; an answer counts only if it comes from the server it was
// sent to and echoes the question. No answer within the timeout → next
// server (glibc's "attempts" behaviour); a truncated answer is fetched
// again over TCP.
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { connect } from 'node:net';
import type { Endpoint } from '../tun/stack/index.js';
import { ForwardError } from './errors.js';
import { canonicalIp } from './names.js';
import { DnsTcpForwarder, type Forwarder } from './tcp-forwarder.js';

export const UPSTREAM_TIMEOUT_MS = 1500;
export const UPSTREAM_ATTEMPTS = 2;
const MAX_IN_FLIGHT = 4096;

export interface UdpForwarderOptions {
  servers: Endpoint[];
  timeoutMs?: number;
  /** Rounds over the server list. */
  attempts?: number;
}

interface Pending {
  server: Endpoint;
  question: Buffer;
  resolve(answer: Buffer): void;
}

export class UdpForwarder implements Forwarder {
  readonly #servers: Endpoint[];
  readonly #timeoutMs: number;
  readonly #attempts: number;
  readonly #pending = new Map<number, Pending>();
  readonly #sockets = new Map<4 | 6, dgram.Socket>();
  readonly #tcp = new Map<string, DnsTcpForwarder>();
  #closed = false;

  constructor(options: UdpForwarderOptions) {
    this.#servers = options.servers.map((s) => ({ address: canonicalIp(s.address) ?? s.address, port: s.port }));
    this.#timeoutMs = options.timeoutMs ?? UPSTREAM_TIMEOUT_MS;
    this.#attempts = options.attempts ?? UPSTREAM_ATTEMPTS;
  }

  get servers(): readonly Endpoint[] {
    return this.#servers;
  }

  async query(message: Uint8Array): Promise<Uint8Array> {
    if (this.#servers.length === 0) throw new ForwardError('failed', 'no upstream DNS servers');
    const question = questionBytes(message);
    if (!question) throw new ForwardError('failed', 'query without a question');
    let last: Error | undefined;
    for (let round = 0; round < this.#attempts; round++) {
      for (const server of this.#servers) {
        if (this.#closed) throw new ForwardError('closed', 'upstream forwarder closed');
        try {
          const answer = await this.#once(server, message, question);
          if (((answer[2] ?? 0) & 0x02) === 0) return answer;
          return await this.#overTcp(server).query(message);
        } catch (err) {
          last = err as Error;
          if (err instanceof ForwardError && err.reason === 'overloaded') throw err;
        }
      }
    }
    throw last ?? new ForwardError('failed', 'no answer from upstream DNS');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#sockets.values()) s.close();
    this.#sockets.clear();
    for (const t of this.#tcp.values()) t.close();
    for (const p of this.#pending.values()) p.resolve(Buffer.alloc(0));
    this.#pending.clear();
  }

  #once(server: Endpoint, message: Uint8Array, question: Buffer): Promise<Buffer> {
    if (this.#pending.size >= MAX_IN_FLIGHT) {
      return Promise.reject(new ForwardError('overloaded', 'too many upstream queries in flight'));
    }
    let id = randomInt(0x10000);
    while (this.#pending.has(id)) id = randomInt(0x10000);
    const copy = Buffer.from(message);
    copy.writeUInt16BE(id, 0);
    const socket = this.#socket(server.address.includes(':') ? 6 : 4);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ForwardError('timeout', `upstream DNS ${server.address}: no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, {
        server,
        question,
        resolve: (answer) => {
          clearTimeout(timer);
          this.#pending.delete(id);
          if (answer.length === 0) reject(new ForwardError('closed', 'upstream forwarder closed'));
          else resolve(answer);
        },
      });
      socket.send(copy, server.port, server.address, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new ForwardError('failed', `upstream DNS ${server.address}: ${err.message}`, { cause: err }));
      });
    });
  }

  #socket(family: 4 | 6): dgram.Socket {
    let socket = this.#sockets.get(family);
    if (socket) return socket;
    socket = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
    socket.on('error', () => {});
    socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo));
    socket.bind(0);
    socket.unref();
    this.#sockets.set(family, socket);
    return socket;
  }

  #onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12 || (msg[2] ?? 0) < 0x80) return;
    const p = this.#pending.get(msg.readUInt16BE(0));
    if (!p || rinfo.port !== p.server.port || canonicalIp(rinfo.address) !== p.server.address) return;
    const q = questionBytes(msg);
    if (!q || q.length !== p.question.length || !asciiCaseEqual(q, p.question)) return;
    p.resolve(msg);
  }

  #overTcp(server: Endpoint): DnsTcpForwarder {
    const key = `${server.address} ${server.port}`;
    let t = this.#tcp.get(key);
    if (!t) {
      t = new DnsTcpForwarder({
        label: `upstream DNS ${server.address}`,
        timeoutMs: this.#timeoutMs,
        connect: (signal) =>
          new Promise((resolve, reject) => {
            const socket = connect({ host: server.address, port: server.port, signal });
            socket.once('connect', () => resolve(socket));
            socket.once('error', reject);
          }),
      });
      this.#tcp.set(key, t);
    }
    return t;
  }
}

/** The raw first question (name, type, class) of a message, or undefined. */
function questionBytes(message: Uint8Array): Buffer | undefined {
  if (message.length < 12 || (message[4] ?? 0) * 256 + (message[5] ?? 0) < 1) return undefined;
  let offset = 12;
  for (;;) {
    const len = message[offset];
    if (len === undefined || len > 63) return undefined;
    offset += len + 1;
    if (len === 0) break;
  }
  if (offset + 4 > message.length) return undefined;
  return Buffer.from(message.subarray(12, offset + 4));
}

function asciiCaseEqual(a: Buffer, b: Buffer): boolean {
  for (let i = 0; i < a.length; i++) {
    let x = a[i] ?? 0;
    let y = b[i] ?? 0;
    if (x >= 0x41 && x <= 0x5a) x += 0x20;
    if (y >= 0x41 && y <= 0x5a) y += 0x20;
    if (x !== y) return false;
  }
  return true;
}
