// A staging directory that becomes an image's root filesystem. Host files
// keep their host paths (so the dynamic loader finds libraries where `ldd`
// saw them); the symlinks met on the way (/lib → usr/lib on merged-/usr
// hosts) are recreated, never followed out of the stage. Host files are
// hard-linked when possible: nothing here writes to a linked file.
import { execFile } from 'node:child_process';
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  mkdir,
  readdir,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { ImageArchiveError } from './image-archive.js';

const MAX_SYMLINK_HOPS = 40;

function parts(path: string): string[] {
  return posix.normalize(path).split('/').filter(Boolean);
}

/** The libraries `ldd` says `file` loads (the loader included); [] for static binaries and scripts. */
export function sharedLibraries(file: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('ldd', [file], (err, stdout) => {
      const out = String(stdout);
      if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT')
        return reject(new ImageArchiveError('ldd is not installed'));
      // ldd exits 1 for static executables and non-ELF files
      if (err) return resolve([]);
      const libs: string[] = [];
      for (const line of out.split('\n')) {
        if (line.includes('=> not found')) return reject(new ImageArchiveError(`${file}: ldd: ${line.trim()}`));
        const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
        if (m?.[1]) libs.push(m[1]);
      }
      resolve(libs);
    });
  });
}

export class RootfsStage {
  readonly dir: string;
  #added = new Set<string>();

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** An empty stage at `dir` (whatever was there is removed). */
  static async create(dir: string): Promise<RootfsStage> {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o755 });
    return new RootfsStage(dir);
  }

  /** Removes the staging directory. */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * Puts the host file `hostPath` into the image at the same path, creating
   * its parent directories with the host's modes and the host's symlinks on
   * the way. A directory path adds only the directory itself.
   */
  async addHostPath(hostPath: string): Promise<void> {
    let todo = parts(hostPath);
    let at = '/';
    for (let hops = 0; todo.length > 0; ) {
      const [name, ...rest] = todo;
      const path = posix.join(at, name as string);
      const st = await lstat(path);
      const staged = join(this.dir, path);
      if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) throw new ImageArchiveError(`${hostPath}: too many symlinks`);
        const target = await readlink(path);
        if (!this.#added.has(path)) {
          await symlink(target, staged);
          this.#added.add(path);
        }
        todo = [...parts(isAbsolute(target) ? target : posix.join(at, target)), ...rest];
        at = '/';
        continue;
      }
      if (!this.#added.has(path)) {
        if (st.isDirectory()) await this.#mkdirExact(staged, st.mode & 0o7777);
        else if (st.isFile()) await this.#linkOrCopy(path, staged);
        else throw new ImageArchiveError(`${path}: not a file, directory or symlink`);
        this.#added.add(path);
      }
      todo = rest;
      at = path;
    }
  }

  /**
   * A host directory tree; `skip` prunes by host path. Symlinks stay symlinks
   * and their targets come along (zoneinfo/localtime brings /etc/localtime).
   */
  async addHostTree(hostDir: string, skip: (path: string) => boolean = () => false): Promise<void> {
    await this.addHostPath(hostDir);
    for (const entry of await readdir(hostDir, { withFileTypes: true })) {
      const path = posix.join(hostDir, entry.name);
      if (skip(path)) continue;
      if (entry.isDirectory()) await this.addHostTree(path, skip);
      else await this.addHostPath(path);
    }
  }

  /** Host files with every shared library they load. */
  async addWithLibraries(hostPaths: string[]): Promise<void> {
    for (const path of hostPaths) await this.addHostPath(path);
    await this.addLibrariesOf(hostPaths);
  }

  /** The shared libraries the host files load (not the files themselves). */
  async addLibrariesOf(hostPaths: string[]): Promise<void> {
    const libs = new Set<string>();
    for (const path of hostPaths) for (const lib of await sharedLibraries(path)) libs.add(lib);
    for (const lib of [...libs].sort()) await this.addHostPath(lib);
  }

  /** Copies (never links: the copy may get capabilities) a host file to another image path. */
  async copyHostFile(hostPath: string, imagePath: string, mode: number): Promise<string> {
    const staged = await this.#parentResolved(imagePath);
    await copyFile(hostPath, staged);
    await this.#chmod(staged, mode);
    return staged;
  }

  async writeFile(imagePath: string, content: string, mode = 0o644): Promise<void> {
    const staged = await this.#parentResolved(imagePath);
    await writeFile(staged, content);
    await this.#chmod(staged, mode);
  }

  async symlink(imagePath: string, target: string): Promise<void> {
    await symlink(target, await this.#parentResolved(imagePath));
  }

  /** mkdir -p inside the image; the last directory gets `mode` exactly (sticky bits too). */
  async mkdir(imagePath: string, mode = 0o755): Promise<void> {
    let at = '';
    for (const name of parts(imagePath)) {
      at = await this.#resolve(posix.join(at, name));
      const staged = join(this.dir, at);
      const st = await lstat(staged).catch(() => undefined);
      if (!st) await this.#mkdirExact(staged, 0o755);
      else if (!st.isDirectory()) throw new ImageArchiveError(`${imagePath}: ${at} is not a directory`);
    }
    await this.#chmod(join(this.dir, at), mode);
  }

  /** Whether `imagePath` exists in the image (symlinks resolved inside the image). */
  async exists(imagePath: string): Promise<boolean> {
    const staged = join(this.dir, await this.#resolve(imagePath));
    return lstat(staged).then(
      () => true,
      () => false,
    );
  }

  /** Makes a file or directory this stage created owned by uid:gid (kept by writeDockerArchive's `keepIds`). */
  async chown(imagePath: string, uid: number, gid: number): Promise<void> {
    const staged = join(this.dir, await this.#resolve(imagePath));
    const st = await lstat(staged);
    // a hard-linked host file shares its inode with the host: never change it
    if (!st.isDirectory() && st.nlink > 1) throw new ImageArchiveError(`${imagePath}: a host file, not the stage's`);
    await lchown(staged, uid, gid);
  }

  /** The stage path for `imagePath`'s parent resolved inside the image, joined with its last name. */
  async #parentResolved(imagePath: string): Promise<string> {
    const names = parts(imagePath);
    const last = names.pop();
    if (!last) throw new ImageArchiveError(`${imagePath}: not a file path`);
    const parent = await this.#resolve(names.join('/'));
    await mkdir(join(this.dir, parent), { recursive: true, mode: 0o755 });
    return join(this.dir, parent, last);
  }

  /** Follows the stage's symlinks as a chroot would: absolute targets restart at the stage root. */
  async #resolve(imagePath: string): Promise<string> {
    let todo = parts(imagePath);
    let at = '';
    for (let hops = 0; todo.length > 0; ) {
      const [name, ...rest] = todo;
      const next = posix.join(at, name as string);
      const st = await lstat(join(this.dir, next)).catch(() => undefined);
      if (st?.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) throw new ImageArchiveError(`${imagePath}: too many symlinks`);
        const target = await readlink(join(this.dir, next));
        todo = [...parts(isAbsolute(target) ? target : posix.join(at, target)), ...rest];
        at = '';
        continue;
      }
      at = next === '..' ? '' : next;
      todo = rest;
    }
    return at;
  }

  async #mkdirExact(staged: string, mode: number): Promise<void> {
    await mkdir(dirname(staged), { recursive: true, mode: 0o755 });
    await mkdir(staged).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    await this.#chmod(staged, mode);
  }

  async #chmod(staged: string, mode: number): Promise<void> {
    await chmod(staged, mode);
  }

  async #linkOrCopy(hostPath: string, staged: string): Promise<void> {
    await mkdir(dirname(staged), { recursive: true, mode: 0o755 });
    try {
      await link(hostPath, staged);
    } catch (err) {
      // another filesystem, or a protected link: a copy keeps the mode (libuv copyfile)
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
      await copyFile(hostPath, staged);
    }
  }
}
