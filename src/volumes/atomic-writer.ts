// The kubelet's atomic writer (pkg/volume/util/atomic_writer.go) on the
// laptop's disk, so a volume looks as it does in the container and updates
// the same way:
//
//   target/..2024_05_01_10_20_30.1234567890/   the files (mode 0755 dir, 0755 subdirs)
//   target/..data -> ..2024_05_01_10_20_30.1234567890
//   target/NAME   -> ..data/NAME                one per top-level entry
//
// An update writes a new timestamped dir, points `..data_tmp` at it and
// renames that over `..data` (one atomic step for readers), then adds new
// top-level links, removes stale ones and the old timestamped dir. Content
// equal to what `..data` holds writes nothing.
//
// One difference on purpose: everything created is chowned (symlinks
// lchowned) to `owner`, the laptop user, where the kubelet leaves root as
// owner and applies the pod's fsGroup (not done here).
import { randomInt } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import {
  chmod,
  chown,
  lchown,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { systemErrorCode } from '../errors.js';
import { MountError } from './errors.js';
import type { Payload } from './projection.js';

export const DATA_DIR_NAME = '..data';
export const NEW_DATA_DIR_NAME = '..data_tmp';
/** The timestamped dir: "group and other" must traverse it (atomic_writer.go newTimestampDir). */
export const TIMESTAMP_DIR_MODE = 0o755;
/** Subdirectories: os.MkdirAll(0777) under the kubelet's umask 022. */
export const SUBDIR_MODE = 0o755;
const MAX_FILE_NAME_LENGTH = 255;
const MAX_PATH_LENGTH = 4096;

export interface Owner {
  uid: number;
  gid: number;
}

export interface AtomicWriterOptions {
  /** Who owns every file, dir and link written; left as is when undefined. */
  owner?: Owner | undefined;
  /** The clock for timestamped dir names (tests). */
  now?: () => Date;
}

export class MountInvalidPathError extends MountError {
  constructor(path: string, why: string) {
    super('KVPN_ERR_MOUNT_INVALID_PATH', 'cluster', `invalid path "${path}" in the volume: ${why}`, {
      remedy: 'Fix the item path in the pod spec; the kubelet refuses it too.',
    });
  }
}

/** atomic_writer.go validatePath, then filepath.Clean. */
export function validatePayload(payload: Payload): Payload {
  const clean: Payload = new Map();
  for (const [path, file] of payload) {
    if (path === '') throw new MountInvalidPathError(path, 'must not be empty');
    if (path.startsWith('/')) throw new MountInvalidPathError(path, 'must be relative');
    if (path.length > MAX_PATH_LENGTH)
      throw new MountInvalidPathError(path, `must be at most ${MAX_PATH_LENGTH} characters`);
    const items = path.split('/');
    for (const item of items) {
      if (item === '..') throw new MountInvalidPathError(path, "must not contain '..'");
      if (Buffer.byteLength(item) > MAX_FILE_NAME_LENGTH)
        throw new MountInvalidPathError(path, `file names must be at most ${MAX_FILE_NAME_LENGTH} characters`);
    }
    const first = items[0] as string;
    if (first.startsWith('..') && first.length > 2) throw new MountInvalidPathError(path, "must not start with '..'");
    clean.set(cleanPath(path), file);
  }
  return clean;
}

/** Go's path.Clean for a relative path: no empty, "." or trailing elements. */
function cleanPath(path: string): string {
  const normal = posix.normalize(path);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

/** "..2006_01_02_15_04_05." in UTC, the prefix Go's MkdirTemp then completes with a random number. */
export function timestampDirPrefix(date: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `..${p(date.getUTCFullYear(), 4)}_${p(date.getUTCMonth() + 1)}_${p(date.getUTCDate())}_${p(date.getUTCHours())}_${p(date.getUTCMinutes())}_${p(date.getUTCSeconds())}.`;
}

const isMissing = (err: unknown): boolean => systemErrorCode(err) === 'ENOENT';

export class AtomicWriter {
  readonly targetDir: string;
  readonly #owner: Owner | undefined;
  readonly #now: () => Date;

  constructor(targetDir: string, options: AtomicWriterOptions = {}) {
    this.targetDir = targetDir;
    this.#owner = options.owner;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Projects `payload` into the target dir (which must exist). Returns true
   * when a new timestamped dir was swapped in, false when the content on disk
   * was already the payload's (then only missing top-level links are added).
   * Like the kubelet, only the bytes are compared, not the modes: a volume's
   * modes come from the pod spec, which does not change under a running pod.
   */
  async write(payload: Payload): Promise<boolean> {
    // (1) validate
    const clean = validatePayload(payload);
    // (2) the current timestamped dir
    const dataDirPath = join(this.targetDir, DATA_DIR_NAME);
    let oldTsDir = '';
    try {
      oldTsDir = await readlink(dataDirPath);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    const oldTsPath = join(this.targetDir, oldTsDir);
    let stale = new Set<string>();
    let shouldWrite = true;
    if (oldTsDir !== '') {
      // (3) paths of the old version the payload no longer has
      stale = await this.#pathsToRemove(clean, oldTsPath);
      // (4) anything to write?
      if (!(await shouldWritePayload(clean, oldTsPath)) && stale.size === 0) {
        shouldWrite = false;
        // Keep the current dir: only make sure the user-visible links exist.
        oldTsDir = '';
      }
    }
    if (shouldWrite) {
      // (5) a new timestamped dir, (6) the payload in it, (7) ownership
      const tsDir = await this.#newTimestampDir();
      const tsDirName = posix.basename(tsDir);
      try {
        await this.#writePayloadToDir(clean, tsDir);
      } catch (err) {
        await rm(tsDir, { recursive: true, force: true });
        throw err;
      }
      // (8) ..data_tmp -> new dir; a leftover from a crash is ours to replace
      const newDataDirPath = join(this.targetDir, NEW_DATA_DIR_NAME);
      await rm(newDataDirPath, { force: true });
      try {
        await symlink(tsDirName, newDataDirPath);
        await this.#lchown(newDataDirPath);
        // (9) the atomic step
        await rename(newDataDirPath, dataDirPath);
      } catch (err) {
        await rm(newDataDirPath, { force: true });
        await rm(tsDir, { recursive: true, force: true });
        throw err;
      }
    }
    // (10) links for new top-level names
    await this.#createUserVisibleFiles(clean);
    // (11) stale top-level links
    await this.#removeUserVisiblePaths(stale);
    // (12) the old version
    if (oldTsDir !== '') await rm(oldTsPath, { recursive: true, force: true });
    return shouldWrite;
  }

  async #pathsToRemove(payload: Payload, oldTsPath: string): Promise<Set<string>> {
    const present = new Set<string>();
    const walk = async (dir: string, prefix: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
        present.add(rel);
        if (entry.isDirectory()) await walk(join(dir, entry.name), rel);
      }
    };
    try {
      await walk(oldTsPath, '');
    } catch (err) {
      if (isMissing(err)) return new Set();
      throw err;
    }
    const wanted = new Set<string>();
    for (const path of payload.keys()) {
      // Every ancestor too: a dir still holding wanted files stays.
      for (let sub = path; sub !== '.' && sub !== ''; sub = posix.dirname(sub)) wanted.add(sub);
    }
    return new Set([...present].filter((p) => !wanted.has(p)));
  }

  async #newTimestampDir(): Promise<string> {
    const prefix = join(this.targetDir, timestampDirPrefix(this.#now()));
    for (;;) {
      // Go's MkdirTemp: the pattern plus a random uint32 in decimal.
      const dir = `${prefix}${randomInt(0, 2 ** 32 - 1)}`;
      try {
        await mkdir(dir, { mode: 0o700 });
      } catch (err) {
        if (systemErrorCode(err) === 'EEXIST') continue;
        throw err;
      }
      await chmod(dir, TIMESTAMP_DIR_MODE);
      await this.#chown(dir);
      return dir;
    }
  }

  async #writePayloadToDir(payload: Payload, dir: string): Promise<void> {
    for (const [path, file] of payload) {
      const full = join(dir, path);
      await this.#mkdirs(dir, dirname(path));
      await writeFile(full, file.data, {
        mode: file.mode,
        flag: fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY,
      });
      await this.#chown(full);
      // The exact mode whatever the umask (chmod after chown: chown may clear bits).
      await chmod(full, file.mode);
    }
  }

  /** mkdir -p of `rel` under `root`, each new dir at SUBDIR_MODE and owned by the owner. */
  async #mkdirs(root: string, rel: string): Promise<void> {
    if (rel === '.' || rel === '') return;
    let at = root;
    for (const part of rel.split('/')) {
      at = join(at, part);
      try {
        await mkdir(at, { mode: SUBDIR_MODE });
      } catch (err) {
        if (systemErrorCode(err) === 'EEXIST') continue;
        throw err;
      }
      await chmod(at, SUBDIR_MODE);
      await this.#chown(at);
    }
  }

  async #createUserVisibleFiles(payload: Payload): Promise<void> {
    const names = new Set([...payload.keys()].map((p) => p.split('/')[0] as string));
    for (const name of names) {
      const visible = join(this.targetDir, name);
      try {
        await readlink(visible);
        continue;
      } catch (err) {
        // Only a missing name gets a link; anything else there is left alone, as the kubelet does.
        if (!isMissing(err)) continue;
      }
      await symlink(posix.join(DATA_DIR_NAME, name), visible);
      await this.#lchown(visible);
    }
  }

  async #removeUserVisiblePaths(paths: Set<string>): Promise<void> {
    let last: unknown;
    for (const p of paths) {
      // Only the links at the root: nested paths vanish with the old dir.
      if (p.includes('/')) continue;
      try {
        await unlink(join(this.targetDir, p));
      } catch (err) {
        last = err;
      }
    }
    if (last !== undefined) throw last;
  }

  async #chown(path: string): Promise<void> {
    if (this.#owner) await chown(path, this.#owner.uid, this.#owner.gid);
  }

  async #lchown(path: string): Promise<void> {
    if (this.#owner) await lchown(path, this.#owner.uid, this.#owner.gid);
  }
}

async function shouldWritePayload(payload: Payload, oldTsPath: string): Promise<boolean> {
  for (const [path, file] of payload) {
    const full = join(oldTsPath, path);
    try {
      await lstat(full);
    } catch (err) {
      if (isMissing(err)) return true;
      throw err;
    }
    if (!file.data.equals(await readFile(full))) return true;
  }
  return false;
}
