// The directory a mount fills, made ready and put back. Removal never follows
// a symlink, never crosses into another filesystem (a FUSE mount still there
// would be the pod's files), and touches only what kvpn made, in the very
// directory it filled: a DIR moved or replaced since is left alone.
import { chownSync, lstatSync, mkdirSync, readdirSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { systemErrorCode } from '../errors.js';
import { MountError, mountError } from './errors.js';
import { mountsUnder, unmount } from './sshfs-linux.js';

/** What removal needs to know about the directory a mount filled (journaled before it is filled). */
export interface FilledDir {
  /** The directory's real path (no symlink in it). */
  dir: string;
  /** kvpn made it (removed whole), or the user's (only `entries` are removed). */
  createdDir: boolean;
  /** The session's scratch space for the mount. */
  staging: string;
  /** Its identity when filled. */
  dev?: number | undefined;
  ino?: number | undefined;
  /** The names kvpn made directly under it (`etc`, `var`…). */
  entries?: string[] | undefined;
}

/**
 * Makes DIR ready: created (true, with its new parents, owned by `owner`) or an existing empty
 * directory of the owner's (or root's) that nobody else may read (false).
 */
export function prepareMountDir(dir: string, owner?: { uid: number; gid: number }): boolean {
  try {
    const st = lstatSync(dir);
    if (!st.isDirectory())
      throw mountError('KVPN_ERR_MOUNT_DIR_NOT_EMPTY', `${dir} is not a directory`, 'Give an empty or new directory.');
    const entries = readdirSync(dir);
    if (entries.length)
      throw mountError(
        'KVPN_ERR_MOUNT_DIR_NOT_EMPTY',
        `${dir} is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'})`,
        'Give an empty or new directory, or leave DIR out for a fresh one.',
      );
    if (owner && st.uid !== owner.uid && st.uid !== 0)
      throw mountError(
        'KVPN_ERR_MOUNT_DIR',
        `${dir} belongs to another user (uid ${st.uid})`,
        'Give a directory of your own.',
      );
    if (st.mode & 0o077)
      throw mountError(
        'KVPN_ERR_MOUNT_DIR',
        `${dir} may be read by others (mode ${(st.mode & 0o777).toString(8)}): they would see the pod's files`,
        `\`chmod 700 ${dir}\`, or leave DIR out for a fresh one.`,
      );
    return false;
  } catch (err) {
    if (err instanceof MountError) throw err;
    if (systemErrorCode(err) !== 'ENOENT') throw err;
  }
  const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (owner && first) for (let p = dir; p.length >= first.length; p = dirname(p)) chownSync(p, owner.uid, owner.gid);
  return true;
}

/** Removes `path` (a file or a tree) on filesystem `dev` only; throws if a mount is still inside. */
function removeTree(path: string, dev: number): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch (err) {
    if (systemErrorCode(err) === 'ENOENT') return;
    throw err;
  }
  if (st.dev !== dev)
    throw mountError(
      'KVPN_ERR_MOUNT_BUSY',
      `${path} is still a mount point`,
      `Run \`fusermount3 -u -z ${path}\` (or \`umount -l\`), then \`kvpn down\` again.`,
    );
  if (!st.isDirectory()) {
    unlinkSync(path);
    return;
  }
  for (const e of readdirSync(path)) removeTree(join(path, e), dev);
  rmdirSync(path);
}

/** Detaches every mount under the directory and the scratch space, then removes what kvpn made; false if nothing was there. */
export async function removeMount(m: FilledDir): Promise<boolean> {
  const attached = [...mountsUnder(m.dir), ...mountsUnder(m.staging)];
  for (const mp of attached) await unmount(mp);
  const left = [...mountsUnder(m.dir), ...mountsUnder(m.staging)];
  if (left.length)
    throw mountError(
      'KVPN_ERR_MOUNT_BUSY',
      `still mounted: ${left.join(', ')}`,
      `Run \`fusermount3 -u -z ${left[0]}\` (or \`umount -l\`), then \`kvpn down\` again.`,
    );
  let found = attached.length > 0;
  try {
    lstatSync(m.staging);
    found = true;
    rmSync(m.staging, { recursive: true, force: true });
  } catch (err) {
    if (systemErrorCode(err) !== 'ENOENT') throw err;
  }
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(m.dir);
  } catch (err) {
    if (systemErrorCode(err) === 'ENOENT') return found;
    throw err;
  }
  if (!st.isDirectory() || (m.ino !== undefined && (st.dev !== m.dev || st.ino !== m.ino)))
    throw mountError(
      'KVPN_ERR_MOUNT_DIR_CHANGED',
      `${m.dir} is no longer the directory kvpn filled (moved or replaced): nothing under it was removed`,
      'Remove what kvpn put there yourself, once `grep kvpn /proc/mounts` lists nothing under it.',
    );
  const targets = m.createdDir ? [m.dir] : (m.entries ?? []).map((e) => join(m.dir, e));
  for (const t of targets) {
    try {
      lstatSync(t);
      found = true;
    } catch {}
    removeTree(t, st.dev);
  }
  return found;
}
