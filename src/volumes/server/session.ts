// One SFTP session's requests against the file system:
//
//   Request ─► path checks (paths.ts) / handle lookup ─► node:fs ─► reply bytes (codec.ts)
//
// Every request gets exactly one reply; fs errors become STATUS codes, never
// rejections. Requests that change nothing run together, every other one
// alone in arrival order (lane.ts). Handles are bounded and all closed by close().
import type { Dir, Stats } from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import { encodeAttrs, encodeData, encodeHandle, encodeName, encodeStatus, encodeStatVfs } from './codec.js';
import { Lane } from './lane.js';
import { longname } from './longname.js';
import { normalizeSftpPath, resolveInRoot } from './paths.js';
import { type Attrs, FX, type NameEntry, PFLAG, type Request, type StatusCode } from './protocol.js';

export const MAX_HANDLES = 1024;
/** Entries per READDIR reply (OpenSSH sends 100). */
export const READDIR_BATCH = 100;
/**
 * The most a READ returns (short reads are allowed): 255 KiB, as OpenSSH, so the
 * DATA reply fits the 256 KiB packets clients accept. sshfs asks for 32–64 KiB.
 */
export const MAX_READ_BYTES = 255 * 1024;
const NAME_MAX = 255n;

type Reply = Buffer;

type Handle =
  | { kind: 'file'; file: FileHandle; append: boolean }
  | { kind: 'dir'; dir: Dir; path: Buffer; dots: boolean };

/** A request that failed in an expected way: its status and message. */
class Refusal extends Error {
  readonly status: StatusCode;
  constructor(status: StatusCode, message: string) {
    super(message);
    this.status = status;
  }
}

/** ENOENT → NO_SUCH_FILE, EACCES/EPERM/EROFS → PERMISSION_DENIED, the rest FAILURE; the message without paths. */
export function statusOfError(err: unknown): [StatusCode, string] {
  if (err instanceof Refusal) return [err.status, err.message];
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const message = err instanceof Error ? err.message.replace(/, \w+ '.*$/s, '') : String(err);
  if (code === 'ENOENT') return [FX.NO_SUCH_FILE, message];
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return [FX.PERMISSION_DENIED, message];
  if (code === 'ENOSYS' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return [FX.OP_UNSUPPORTED, message];
  return [FX.FAILURE, message];
}

function attrsOf(st: Stats): Attrs {
  return {
    size: st.size,
    uid: st.uid,
    gid: st.gid,
    permissions: st.mode,
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000),
  };
}

function openFlags(pflags: number): number {
  const { constants: c } = fsp;
  const rw = pflags & (PFLAG.READ | PFLAG.WRITE);
  let flags = rw === (PFLAG.READ | PFLAG.WRITE) ? c.O_RDWR : rw === PFLAG.WRITE ? c.O_WRONLY : c.O_RDONLY;
  if (pflags & PFLAG.APPEND) flags |= c.O_APPEND;
  if (pflags & PFLAG.CREAT) flags |= c.O_CREAT;
  if (pflags & PFLAG.TRUNC) flags |= c.O_TRUNC;
  if (pflags & PFLAG.EXCL) flags |= c.O_EXCL;
  return flags;
}

/** The operations SETSTAT and FSETSTAT share, in OpenSSH's order: size, mode, times, owner. */
interface AttrTarget {
  truncate(size: number): Promise<void>;
  chmod(mode: number): Promise<void>;
  utimes(atime: number, mtime: number): Promise<void>;
  chown(uid: number, gid: number): Promise<void>;
}

async function applyAttrs(target: AttrTarget, a: Attrs): Promise<void> {
  if (a.size !== undefined) await target.truncate(a.size);
  if (a.permissions !== undefined) await target.chmod(a.permissions & 0o7777);
  if (a.atime !== undefined && a.mtime !== undefined) await target.utimes(a.atime, a.mtime);
  if (a.uid !== undefined && a.gid !== undefined) await target.chown(a.uid, a.gid);
}

function pathTarget(path: Buffer): AttrTarget {
  return {
    truncate: (size) => fsp.truncate(path, size),
    chmod: (mode) => fsp.chmod(path, mode),
    utimes: (atime, mtime) => fsp.utimes(path, atime, mtime),
    chown: (uid, gid) => fsp.chown(path, uid, gid),
  };
}

/**
 * Requests that change nothing may run together; every other one runs alone, after all before it.
 * Clients rely on that order across paths, not only per handle: sshfs sends OPEN(CREAT) and a STAT
 * of the same path back to back, and the STAT must see the file (OpenSSH serves one at a time).
 */
const READ_ONLY = new Set(['read', 'stat', 'lstat', 'fstat', 'readlink', 'realpath', 'statvfs']);

export class SftpSession {
  readonly #root: string;
  /** Arrival order across the whole session (lane.ts). */
  readonly #order = new Lane();
  readonly #handles = new Map<string, Handle>();
  #nextHandle = 1;
  #closed = false;

  constructor(root: string) {
    this.#root = root;
  }

  get openHandles(): number {
    return this.#handles.size;
  }

  /** The reply to one request (never rejects). */
  async handle(req: Request): Promise<Reply> {
    if (req.type === 'init') return encodeStatus(0, FX.BAD_MESSAGE, 'INIT twice');
    try {
      const run = (): Promise<Reply> => this.#dispatch(req);
      return await (READ_ONLY.has(req.type) ? this.#order.shared(run) : this.#order.exclusive(run));
    } catch (err) {
      const [status, message] = statusOfError(err);
      return encodeStatus(req.id, status, message);
    }
  }

  /** Closes every handle once the requests queued on it are done. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const handles = [...this.#handles.values()];
    this.#handles.clear();
    await this.#order.exclusive(() => Promise.all(handles.map((h) => closeHandle(h).catch(() => {}))));
  }

  #path(path: string): Buffer {
    const p = resolveInRoot(this.#root, path);
    if (p === undefined) throw new Refusal(FX.PERMISSION_DENIED, 'path escapes the served root');
    return p;
  }

  #lookup(handle: string): Handle {
    const h = this.#handles.get(handle);
    if (h === undefined) throw new Refusal(FX.FAILURE, 'invalid handle');
    return h;
  }

  #file(handle: string): Extract<Handle, { kind: 'file' }> {
    const h = this.#lookup(handle);
    if (h.kind !== 'file') throw new Refusal(FX.FAILURE, 'not a file handle');
    return h;
  }

  #register(h: Handle): string {
    if (this.#closed) {
      void closeHandle(h);
      throw new Refusal(FX.FAILURE, 'session closed');
    }
    const key = Buffer.alloc(4);
    key.writeUInt32BE(this.#nextHandle);
    this.#nextHandle = (this.#nextHandle % 0xffffffff) + 1;
    const name = key.toString('latin1');
    this.#handles.set(name, h);
    return name;
  }

  #roomForHandle(): void {
    if (this.#handles.size >= MAX_HANDLES) throw new Refusal(FX.FAILURE, `too many open handles (${MAX_HANDLES})`);
  }

  async #dispatch(req: Exclude<Request, { type: 'init' }>): Promise<Reply> {
    const ok = (): Reply => encodeStatus(req.id, FX.OK, '');
    switch (req.type) {
      case 'open': {
        const path = this.#path(req.path);
        this.#roomForHandle();
        const mode = req.attrs.permissions === undefined ? 0o666 : req.attrs.permissions & 0o7777;
        const file = await fsp.open(path, openFlags(req.pflags), mode);
        const append = (req.pflags & PFLAG.APPEND) !== 0;
        return encodeHandle(req.id, this.#register({ kind: 'file', file, append }));
      }
      case 'opendir': {
        const path = this.#path(req.path);
        this.#roomForHandle();
        const dir = await fsp.opendir(path, { encoding: 'latin1' as BufferEncoding, bufferSize: 64 });
        return encodeHandle(req.id, this.#register({ kind: 'dir', dir, path, dots: false }));
      }
      case 'close': {
        const h = this.#lookup(req.handle);
        this.#handles.delete(req.handle);
        await closeHandle(h);
        return ok();
      }
      case 'read': {
        const h = this.#file(req.handle);
        const buf = Buffer.allocUnsafe(Math.min(req.length, MAX_READ_BYTES));
        const { bytesRead } = await h.file.read(buf, 0, buf.length, req.offset);
        if (bytesRead === 0) return encodeStatus(req.id, FX.EOF, 'end of file');
        return encodeData(req.id, buf.subarray(0, bytesRead));
      }
      case 'write': {
        const h = this.#file(req.handle);
        for (let done = 0; done < req.data.length; ) {
          const at = h.append ? null : req.offset + done;
          done += (await h.file.write(req.data, done, req.data.length - done, at)).bytesWritten;
        }
        return ok();
      }
      case 'fstat': {
        const h = this.#lookup(req.handle);
        return encodeAttrs(req.id, attrsOf(h.kind === 'file' ? await h.file.stat() : await fsp.stat(h.path)));
      }
      case 'fsetstat': {
        const h = this.#lookup(req.handle);
        await applyAttrs(h.kind === 'file' ? fileTarget(h.file) : pathTarget(h.path), req.attrs);
        return ok();
      }
      case 'fsync': {
        const h = this.#file(req.handle);
        await h.file.sync();
        return ok();
      }
      case 'readdir': {
        const h = this.#lookup(req.handle);
        if (h.kind !== 'dir') throw new Refusal(FX.FAILURE, 'not a directory handle');
        return this.#readdir(req.id, h);
      }
      case 'lstat':
        return encodeAttrs(req.id, attrsOf(await fsp.lstat(this.#path(req.path))));
      case 'stat':
        return encodeAttrs(req.id, attrsOf(await fsp.stat(this.#path(req.path))));
      case 'setstat':
        await applyAttrs(pathTarget(this.#path(req.path)), req.attrs);
        return ok();
      case 'remove':
        await fsp.unlink(this.#path(req.path));
        return ok();
      case 'mkdir':
        await fsp.mkdir(
          this.#path(req.path),
          req.attrs.permissions === undefined ? 0o777 : req.attrs.permissions & 0o7777,
        );
        return ok();
      case 'rmdir':
        await fsp.rmdir(this.#path(req.path));
        return ok();
      case 'realpath': {
        const path = normalizeSftpPath(req.path);
        if (path === undefined) throw new Refusal(FX.PERMISSION_DENIED, 'path escapes the served root');
        return encodeName(req.id, [{ name: path, longname: path, attrs: {} }]);
      }
      case 'readlink': {
        const target = await fsp.readlink(this.#path(req.path), { encoding: 'latin1' as BufferEncoding });
        return encodeName(req.id, [{ name: target, longname: target, attrs: {} }]);
      }
      case 'symlink':
        // The target is stored verbatim (relative targets stay relative), as OpenSSH does.
        await fsp.symlink(Buffer.from(req.target, 'latin1'), this.#path(req.linkPath));
        return ok();
      case 'rename': {
        // v3 RENAME never replaces: refuse an existing target (posix-rename@openssh.com does replace).
        const from = this.#path(req.oldPath);
        const to = this.#path(req.newPath);
        const exists = await fsp.lstat(to).then(
          () => true,
          () => false,
        );
        if (exists) throw new Refusal(FX.FAILURE, 'target exists');
        await fsp.rename(from, to);
        return ok();
      }
      case 'posix-rename':
        await fsp.rename(this.#path(req.oldPath), this.#path(req.newPath));
        return ok();
      case 'hardlink':
        await fsp.link(this.#path(req.oldPath), this.#path(req.newPath));
        return ok();
      case 'statvfs': {
        const s = await fsp.statfs(this.#path(req.path), { bigint: true });
        return encodeStatVfs(req.id, {
          bsize: s.bsize,
          frsize: s.bsize,
          blocks: s.blocks,
          bfree: s.bfree,
          bavail: s.bavail,
          files: s.files,
          ffree: s.ffree,
          favail: s.ffree,
          fsid: 0n,
          flag: 0n,
          namemax: NAME_MAX,
        });
      }
      case 'unsupported':
        return encodeStatus(req.id, FX.OP_UNSUPPORTED, `unsupported: ${req.what}`);
      case 'bad':
        return encodeStatus(req.id, FX.BAD_MESSAGE, 'malformed request');
    }
  }

  /** Up to READDIR_BATCH entries ("." and ".." first, as readdir(3) gives them), or EOF. */
  async #readdir(id: number, h: Extract<Handle, { kind: 'dir' }>): Promise<Reply> {
    const names: string[] = [];
    if (!h.dots) {
      h.dots = true;
      names.push('.', '..');
    }
    const entries: NameEntry[] = [];
    const now = Date.now();
    while (entries.length === 0) {
      while (names.length < READDIR_BATCH) {
        const e = await h.dir.read();
        if (e === null) break;
        names.push(e.name);
      }
      if (names.length === 0) return encodeStatus(id, FX.EOF, 'end of directory');
      const stats = await Promise.all(names.map((n) => fsp.lstat(this.#entryPath(h.path, n)).catch(() => undefined)));
      names.forEach((name, i) => {
        const st = stats[i];
        // An entry removed since the directory was read is skipped, as OpenSSH does.
        if (st !== undefined) entries.push({ name, longname: longname(name, st, now), attrs: attrsOf(st) });
      });
      names.length = 0;
    }
    return encodeName(id, entries);
  }

  /** An entry of a directory handle; ".." is the lexical parent, and the root's is the root itself. */
  #entryPath(dir: Buffer, name: string): Buffer {
    if (name === '.') return dir;
    if (name === '..') {
      if (dir.equals(Buffer.from(this.#root, 'utf8'))) return dir;
      return dir.subarray(0, Math.max(1, dir.lastIndexOf(0x2f)));
    }
    return Buffer.concat([dir, Buffer.from(dir[dir.length - 1] === 0x2f ? name : `/${name}`, 'latin1')]);
  }
}

function fileTarget(file: FileHandle): AttrTarget {
  return {
    truncate: (size) => file.truncate(size),
    chmod: (mode) => file.chmod(mode),
    utimes: (atime, mtime) => file.utimes(atime, mtime),
    chown: (uid, gid) => file.chown(uid, gid),
  };
}

async function closeHandle(h: Handle): Promise<void> {
  if (h.kind === 'file') await h.file.close();
  else await h.dir.close();
}
