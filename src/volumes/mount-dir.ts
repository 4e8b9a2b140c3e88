// The directory a mount fills, made ready and put back. Nothing is removed
// while a FUSE mount is still attached under it: that would delete the
// pod's files, not ours.
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { systemErrorCode } from '../errors.js';
import { MountError, mountError } from './errors.js';
import { mountsUnder, unmount } from './sshfs-linux.js';

/** Makes DIR ready: created (true, with its new parents, owned by `owner`) or an existing empty directory (false). */
export function prepareMountDir(dir: string, owner?: { uid: number; gid: number }): boolean {
  try {
    const entries = readdirSync(dir);
    if (entries.length)
      throw mountError(
        'KVPN_ERR_MOUNT_DIR_NOT_EMPTY',
        `${dir} is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'})`,
        'Give an empty or new directory, or leave DIR out for a fresh one.',
      );
    return false;
  } catch (err) {
    if (err instanceof MountError) throw err;
    if (systemErrorCode(err) === 'ENOTDIR')
      throw mountError('KVPN_ERR_MOUNT_DIR_NOT_EMPTY', `${dir} is a file`, 'Give an empty or new directory.');
    if (systemErrorCode(err) !== 'ENOENT') throw err;
  }
  const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (owner && first) for (let p = dir; p.length >= first.length; p = dirname(p)) chownSync(p, owner.uid, owner.gid);
  return true;
}

/** Detaches every mount under `dir` and `staging`, then removes what kvpn wrote; false if nothing was there. */
export async function removeMount(dir: string, createdDir: boolean, staging: string): Promise<boolean> {
  const attached = [...mountsUnder(dir), ...mountsUnder(staging)];
  let found = attached.length > 0 || existsSync(staging) || (createdDir && existsSync(dir));
  for (const mp of attached) await unmount(mp);
  const left = [...mountsUnder(dir), ...mountsUnder(staging)];
  if (left.length)
    throw mountError(
      'KVPN_ERR_MOUNT_BUSY',
      `still mounted: ${left.join(', ')}`,
      `Run \`fusermount3 -u -z ${left[0]}\` (or \`umount -l\`), then \`kvpn down\` again.`,
    );
  rmSync(staging, { recursive: true, force: true });
  if (createdDir) rmSync(dir, { recursive: true, force: true });
  else if (existsSync(dir))
    for (const entry of readdirSync(dir)) {
      found = true;
      rmSync(join(dir, entry), { recursive: true, force: true });
    }
  return found;
}
