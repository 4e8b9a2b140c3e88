// A small raw SFTP v3 client for tests of kvpn's file server: sends the
// preamble, then requests with ids, and matches replies by id (they may come
// back in any order). Written from the draft, independent of the server's codec.
import { once } from 'node:events';
import net from 'node:net';

export const T = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

export type Field = number | bigint | string | Buffer | { raw: Buffer };

/** ATTRS bytes (flags, then the fields those flags announce), spliced in as they are. */
export function attrs(...fs: (number | bigint)[]): { raw: Buffer } {
  return { raw: fields(...fs) };
}

/** uint32 for numbers, uint64 for bigints, strings/Buffers length-prefixed, raw as is. */
export function fields(...fs: Field[]): Buffer {
  return Buffer.concat(
    fs.map((f) => {
      if (typeof f === 'object' && 'raw' in f) return f.raw;
      if (typeof f === 'number') {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(f >>> 0);
        return b;
      }
      if (typeof f === 'bigint') {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(f);
        return b;
      }
      const bytes = typeof f === 'string' ? Buffer.from(f, 'utf8') : f;
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      return Buffer.concat([len, bytes]);
    }),
  );
}

export function frame(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1);
  head[4] = type;
  return Buffer.concat([head, body]);
}

export class Cursor {
  off = 0;
  constructor(readonly buf: Buffer) {}
  u32(): number {
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64BE(this.off);
    this.off += 8;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
  str(): string {
    return this.bytes().toString('utf8');
  }
  attrs(): Record<string, number> {
    const flags = this.u32();
    const a: Record<string, number> = {};
    if (flags & 1) a.size = Number(this.u64());
    if (flags & 2) {
      a.uid = this.u32();
      a.gid = this.u32();
    }
    if (flags & 4) a.permissions = this.u32();
    if (flags & 8) {
      a.atime = this.u32();
      a.mtime = this.u32();
    }
    return a;
  }
}

export interface Reply {
  type: number;
  id: number;
  body: Cursor;
}

export class SftpError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`status ${code}: ${message}`);
  }
}

/** Connects and sends `line` (the preamble); resolves with the server's answer line and the socket. */
export async function connectRaw(port: number, line: string): Promise<{ socket: net.Socket; answer: string }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(line);
  let got = Buffer.alloc(0);
  while (!got.includes(0x0a)) {
    const chunk = await Promise.race([
      once(socket, 'data').then(([c]) => c as Buffer),
      once(socket, 'close').then(() => undefined),
    ]);
    if (chunk === undefined) break;
    got = Buffer.concat([got, chunk]);
  }
  socket.pause();
  const nl = got.indexOf(0x0a);
  if (nl + 1 < got.length) socket.unshift(got.subarray(nl + 1));
  return { socket, answer: got.subarray(0, nl === -1 ? got.length : nl + 1).toString() };
}

export class SftpClient {
  readonly socket: net.Socket;
  readonly extensions = new Map<string, string>();
  #buf = Buffer.alloc(0);
  #nextId = 1;
  readonly #pending = new Map<number, (r: Reply) => void>();
  #version: ((r: Cursor) => void) | undefined;
  readonly closed: Promise<void>;

  constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = once(socket, 'close').then(() => {});
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.resume();
  }

  /** Preamble with the token, then INIT → VERSION. */
  static async open(port: number, token: string): Promise<SftpClient> {
    const { socket, answer } = await connectRaw(port, `KVPN-FILES 1 ${token}\n`);
    if (answer !== 'OK\n') throw new Error(`refused: ${answer}`);
    const client = new SftpClient(socket);
    await client.init();
    return client;
  }

  async init(): Promise<number> {
    const got = new Promise<Cursor>((resolve) => {
      this.#version = resolve;
    });
    this.socket.write(frame(T.INIT, fields(3)));
    const c = await got;
    const version = c.u32();
    while (c.off < c.buf.length) this.extensions.set(c.str(), c.str());
    return version;
  }

  #onData(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    while (this.#buf.length >= 4) {
      const len = this.#buf.readUInt32BE(0);
      if (this.#buf.length < 4 + len) break;
      const body = this.#buf.subarray(4, 4 + len);
      this.#buf = this.#buf.subarray(4 + len);
      const type = body[0] as number;
      const c = new Cursor(body.subarray(1));
      if (type === T.VERSION) {
        this.#version?.(c);
        continue;
      }
      const id = c.u32();
      this.#pending.get(id)?.({ type, id, body: c });
      this.#pending.delete(id);
    }
  }

  /** Sends one request (the id is added) and resolves with its reply. */
  request(type: number, ...rest: Field[]): Promise<Reply> {
    const id = this.#nextId++;
    const reply = new Promise<Reply>((resolve) => this.#pending.set(id, resolve));
    this.socket.write(frame(type, fields(id, ...rest)));
    return reply;
  }

  close(): void {
    this.socket.destroy();
  }

  // Typed calls: a STATUS other than OK rejects with SftpError.

  static #status(r: Reply): SftpError {
    if (r.type !== T.STATUS) return new SftpError(-1, `unexpected reply type ${r.type}`);
    const code = r.body.u32();
    return new SftpError(code, r.body.str());
  }

  async #expect(r: Reply, type: number): Promise<Cursor> {
    if (r.type === type) return r.body;
    throw SftpClient.#status(r);
  }

  async #ok(r: Reply): Promise<void> {
    const e = SftpClient.#status(r);
    if (e.code !== 0) throw e;
  }

  async status(type: number, ...rest: Field[]): Promise<void> {
    return this.#ok(await this.request(type, ...rest));
  }
  async attrs(type: typeof T.STAT | typeof T.LSTAT, path: string): Promise<Record<string, number>> {
    return (await this.#expect(await this.request(type, path), T.ATTRS)).attrs();
  }
  async fstat(handle: Buffer): Promise<Record<string, number>> {
    return (await this.#expect(await this.request(T.FSTAT, handle), T.ATTRS)).attrs();
  }
  async open(path: string, pflags: number, a: { raw: Buffer } = attrs(0)): Promise<Buffer> {
    return (await this.#expect(await this.request(T.OPEN, path, pflags, a), T.HANDLE)).bytes();
  }
  async opendir(path: string): Promise<Buffer> {
    return (await this.#expect(await this.request(T.OPENDIR, path), T.HANDLE)).bytes();
  }
  /** Data, or undefined at EOF. */
  async read(handle: Buffer, offset: number, length: number): Promise<Buffer | undefined> {
    const r = await this.request(T.READ, handle, BigInt(offset), length);
    if (r.type === T.DATA) return r.body.bytes();
    const e = SftpClient.#status(r);
    if (e.code === 1) return undefined;
    throw e;
  }
  async write(handle: Buffer, offset: number, data: Buffer): Promise<void> {
    return this.#ok(await this.request(T.WRITE, handle, BigInt(offset), data));
  }
  async closeHandle(handle: Buffer): Promise<void> {
    return this.#ok(await this.request(T.CLOSE, handle));
  }
  async names(
    type: number,
    ...rest: Field[]
  ): Promise<{ name: string; longname: string; attrs: Record<string, number> }[]> {
    const c = await this.#expect(await this.request(type, ...rest), T.NAME);
    const out = [];
    for (let n = c.u32(); n > 0; n--) out.push({ name: c.str(), longname: c.str(), attrs: c.attrs() });
    return out;
  }
  /** Every entry of a directory, READDIR until EOF; also the number of READDIR replies. */
  async readdir(
    path: string,
  ): Promise<{ entries: { name: string; longname: string; attrs: Record<string, number> }[]; batches: number }> {
    const h = await this.opendir(path);
    const entries = [];
    let batches = 0;
    for (;;) {
      const r = await this.request(T.READDIR, h);
      if (r.type !== T.NAME) {
        const e = SftpClient.#status(r);
        if (e.code === 1) break;
        throw e;
      }
      batches++;
      for (let n = r.body.u32(); n > 0; n--)
        entries.push({ name: r.body.str(), longname: r.body.str(), attrs: r.body.attrs() });
    }
    await this.closeHandle(h);
    return { entries, batches };
  }
  async realpath(path: string): Promise<string> {
    return (await this.names(T.REALPATH, path))[0]?.name ?? '';
  }
  async readlink(path: string): Promise<string> {
    return (await this.names(T.READLINK, path))[0]?.name ?? '';
  }
  async extended(name: string, ...rest: Field[]): Promise<Reply> {
    return this.request(T.EXTENDED, name, ...rest);
  }
}
