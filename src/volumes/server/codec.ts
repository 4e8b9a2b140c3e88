// SFTP v3 bytes ⇄ values, no I/O:
//
//   socket chunks ─► PacketFramer.push ─► next(): one packet body | 'oversize' | 'runt' | undefined
//   packet body   ─► parseRequest      ─► Request (malformed → { type: 'bad' }, never a throw)
//   reply values  ─► encode*           ─► one Buffer with its length prefix
import {
  ATTR,
  type Attrs,
  FXP,
  type NameEntry,
  type Request,
  SFTP_VERSION,
  type StatusCode,
  type StatVfs,
} from './protocol.js';

/** The largest packet body accepted: a 256 KiB WRITE plus its header (OpenSSH's limit is 256 KiB). */
export const MAX_PACKET_BYTES = 256 * 1024 + 1024;
/** The shortest body that can be a request: type + uint32 (INIT's version or a request id). */
const MIN_PACKET_BYTES = 5;

export type FrameResult = Buffer | 'oversize' | 'runt' | undefined;

/** Cuts a byte stream into packet bodies (type byte first). Holds what it was given until asked. */
export class PacketFramer {
  #chunks: Buffer[] = [];
  #size = 0;

  /** Bytes held and not yet returned as packets. */
  get buffered(): number {
    return this.#size;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  /** The next whole packet body; undefined until one has arrived; a bad length is final. */
  next(): FrameResult {
    if (this.#size < 4) return undefined;
    const length = this.#peekLength();
    if (length > MAX_PACKET_BYTES) return 'oversize';
    if (length < MIN_PACKET_BYTES) return 'runt';
    if (this.#size < 4 + length) return undefined;
    return this.#take(4 + length).subarray(4);
  }

  #peekLength(): number {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= 4) return first.readUInt32BE(0);
    return this.#take(4, false).readUInt32BE(0);
  }

  /** The first n bytes as one Buffer (copied only when they span chunks); consumed unless told. */
  #take(n: number, consume = true): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= n) {
      if (!consume) return first;
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#size -= n;
      return first.subarray(0, n);
    }
    const joined = Buffer.concat(this.#chunks, this.#size);
    this.#chunks = consume && joined.length > n ? [joined.subarray(n)] : consume ? [] : [joined];
    if (consume) this.#size -= n;
    return joined.subarray(0, n);
  }
}

class Truncated extends Error {}

/** Reads big-endian fields of one packet body; running past its end throws Truncated. */
class Reader {
  readonly #buf: Buffer;
  #off: number;

  constructor(buf: Buffer, off: number) {
    this.#buf = buf;
    this.#off = off;
  }

  #need(n: number): number {
    const at = this.#off;
    if (at + n > this.#buf.length) throw new Truncated();
    this.#off += n;
    return at;
  }
  u32(): number {
    return this.#buf.readUInt32BE(this.#need(4));
  }
  /** uint64 as a number; values past 2^53 cannot be offsets or sizes we serve. */
  u64(): number {
    const v = this.#buf.readBigUInt64BE(this.#need(8));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Truncated();
    return Number(v);
  }
  bytes(): Buffer {
    const n = this.u32();
    const at = this.#need(n);
    return this.#buf.subarray(at, at + n);
  }
  /** A byte string (file names, handles): latin1 keeps every byte. */
  str(): string {
    return this.bytes().toString('latin1');
  }
  attrs(): Attrs {
    const flags = this.u32();
    const a: Attrs = {};
    if (flags & ATTR.SIZE) a.size = this.u64();
    if (flags & ATTR.UIDGID) {
      a.uid = this.u32();
      a.gid = this.u32();
    }
    if (flags & ATTR.PERMISSIONS) a.permissions = this.u32();
    if (flags & ATTR.ACMODTIME) {
      a.atime = this.u32();
      a.mtime = this.u32();
    }
    if (flags & ATTR.EXTENDED) {
      for (let n = this.u32(); n > 0; n--) {
        this.bytes();
        this.bytes();
      }
    }
    return a;
  }
}

/** One packet body (type byte first) as a request. Never throws. */
export function parseRequest(body: Buffer): Request {
  if (body.length < MIN_PACKET_BYTES) return { type: 'bad', id: 0 };
  const type = body[0] as number;
  const r = new Reader(body, 1);
  if (type === FXP.INIT) return { type: 'init', version: r.u32() };
  const id = r.u32();
  try {
    return parseWithId(type, id, r);
  } catch (err) {
    if (err instanceof Truncated) return { type: 'bad', id };
    throw err;
  }
}

function parseWithId(type: number, id: number, r: Reader): Request {
  switch (type) {
    case FXP.OPEN:
      return { type: 'open', id, path: r.str(), pflags: r.u32(), attrs: r.attrs() };
    case FXP.CLOSE:
      return { type: 'close', id, handle: r.str() };
    case FXP.READ:
      return { type: 'read', id, handle: r.str(), offset: r.u64(), length: r.u32() };
    case FXP.WRITE:
      return { type: 'write', id, handle: r.str(), offset: r.u64(), data: r.bytes() };
    case FXP.LSTAT:
      return { type: 'lstat', id, path: r.str() };
    case FXP.FSTAT:
      return { type: 'fstat', id, handle: r.str() };
    case FXP.SETSTAT:
      return { type: 'setstat', id, path: r.str(), attrs: r.attrs() };
    case FXP.FSETSTAT:
      return { type: 'fsetstat', id, handle: r.str(), attrs: r.attrs() };
    case FXP.OPENDIR:
      return { type: 'opendir', id, path: r.str() };
    case FXP.READDIR:
      return { type: 'readdir', id, handle: r.str() };
    case FXP.REMOVE:
      return { type: 'remove', id, path: r.str() };
    case FXP.MKDIR:
      return { type: 'mkdir', id, path: r.str(), attrs: r.attrs() };
    case FXP.RMDIR:
      return { type: 'rmdir', id, path: r.str() };
    case FXP.REALPATH:
      return { type: 'realpath', id, path: r.str() };
    case FXP.STAT:
      return { type: 'stat', id, path: r.str() };
    case FXP.RENAME:
      return { type: 'rename', id, oldPath: r.str(), newPath: r.str() };
    case FXP.READLINK:
      return { type: 'readlink', id, path: r.str() };
    case FXP.SYMLINK:
      return { type: 'symlink', id, target: r.str(), linkPath: r.str() };
    case FXP.EXTENDED:
      return parseExtended(id, r.bytes().toString('latin1'), r);
    default:
      return { type: 'unsupported', id, what: `packet type ${type}` };
  }
}

function parseExtended(id: number, name: string, r: Reader): Request {
  switch (name) {
    case 'posix-rename@openssh.com':
      return { type: 'posix-rename', id, oldPath: r.str(), newPath: r.str() };
    case 'hardlink@openssh.com':
      return { type: 'hardlink', id, oldPath: r.str(), newPath: r.str() };
    case 'statvfs@openssh.com':
      return { type: 'statvfs', id, path: r.str() };
    case 'fsync@openssh.com':
      return { type: 'fsync', id, handle: r.str() };
    default:
      return { type: 'unsupported', id, what: name };
  }
}

/** Builds one packet: length prefix, type, fields. Sizes are computed first, then one allocation. */
type Field = number | bigint | Buffer | string | AttrsField;
interface AttrsField {
  attrs: Attrs;
}

function fieldLength(f: Field): number {
  if (typeof f === 'number') return 4;
  if (typeof f === 'bigint') return 8;
  if (typeof f === 'string') return 4 + Buffer.byteLength(f, 'latin1');
  if (Buffer.isBuffer(f)) return 4 + f.length;
  return attrsLength(f.attrs);
}

function attrsLength(a: Attrs): number {
  return (
    4 +
    (a.size !== undefined ? 8 : 0) +
    (a.uid !== undefined ? 8 : 0) +
    (a.permissions !== undefined ? 4 : 0) +
    (a.atime !== undefined ? 8 : 0)
  );
}

function packet(type: number, fields: Field[]): Buffer {
  let length = 1;
  for (const f of fields) length += fieldLength(f);
  const buf = Buffer.allocUnsafe(4 + length);
  buf.writeUInt32BE(length, 0);
  buf[4] = type;
  let off = 5;
  for (const f of fields) {
    if (typeof f === 'number') off = buf.writeUInt32BE(f >>> 0, off);
    else if (typeof f === 'bigint') off = buf.writeBigUInt64BE(f, off);
    else if (typeof f === 'string') {
      const n = buf.write(f, off + 4, 'latin1');
      buf.writeUInt32BE(n, off);
      off += 4 + n;
    } else if (Buffer.isBuffer(f)) {
      buf.writeUInt32BE(f.length, off);
      off += 4 + f.copy(buf, off + 4);
    } else off = writeAttrs(buf, off, f.attrs);
  }
  return buf;
}

function writeAttrs(buf: Buffer, at: number, a: Attrs): number {
  let flags = 0;
  if (a.size !== undefined) flags |= ATTR.SIZE;
  if (a.uid !== undefined) flags |= ATTR.UIDGID;
  if (a.permissions !== undefined) flags |= ATTR.PERMISSIONS;
  if (a.atime !== undefined) flags |= ATTR.ACMODTIME;
  let off = buf.writeUInt32BE(flags, at);
  if (a.size !== undefined) off = buf.writeBigUInt64BE(BigInt(a.size), off);
  if (a.uid !== undefined) {
    off = buf.writeUInt32BE(a.uid >>> 0, off);
    off = buf.writeUInt32BE((a.gid ?? 0) >>> 0, off);
  }
  if (a.permissions !== undefined) off = buf.writeUInt32BE(a.permissions >>> 0, off);
  if (a.atime !== undefined) {
    off = buf.writeUInt32BE(a.atime >>> 0, off);
    off = buf.writeUInt32BE((a.mtime ?? 0) >>> 0, off);
  }
  return off;
}

/** VERSION 3 with the extensions we serve (name, data pairs). */
export function encodeVersion(extensions: readonly (readonly [string, string])[]): Buffer {
  return packet(FXP.VERSION, [SFTP_VERSION, ...extensions.flat()]);
}

/** STATUS: the message is UTF-8 text, the language tag empty. */
export function encodeStatus(id: number, code: StatusCode, message: string): Buffer {
  return packet(FXP.STATUS, [id, code, Buffer.from(message, 'utf8'), '']);
}

export function encodeHandle(id: number, handle: string): Buffer {
  return packet(FXP.HANDLE, [id, handle]);
}

export function encodeData(id: number, data: Buffer): Buffer {
  return packet(FXP.DATA, [id, data]);
}

export function encodeName(id: number, entries: readonly NameEntry[]): Buffer {
  const fields: Field[] = [id, entries.length];
  for (const e of entries) fields.push(e.name, e.longname, { attrs: e.attrs });
  return packet(FXP.NAME, fields);
}

export function encodeAttrs(id: number, attrs: Attrs): Buffer {
  return packet(FXP.ATTRS, [id, { attrs }]);
}

/** statvfs@openssh.com's EXTENDED_REPLY: eleven uint64 in OpenSSH's order. */
export function encodeStatVfs(id: number, s: StatVfs): Buffer {
  return packet(FXP.EXTENDED_REPLY, [
    id,
    s.bsize,
    s.frsize,
    s.blocks,
    s.bfree,
    s.bavail,
    s.files,
    s.ffree,
    s.favail,
    s.fsid,
    s.flag,
    s.namemax,
  ]);
}
