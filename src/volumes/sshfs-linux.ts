// FUSE mounts through the distribution's sshfs, speaking SFTP straight to the
// forwarder (`-o directport=`, no SSH), and their removal. Run by the root
// daemon: `allow_other` lets the invoking user in, `uid`/`gid` show them as
// the owner (the pod's owners mean nothing here), `default_permissions` makes
// the kernel check the pod's modes against that.
import { execFile, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { mountError } from './errors.js';

const run = promisify(execFile);
const MOUNT_TIMEOUT_MS = 30_000;
/** Seconds sshfs trusts a listing: a file made in the pod shows up on the laptop after at most this. */
export const SSHFS_DIR_CACHE_S = 2;

export interface SshfsOptions {
  port: number;
  /** The path on the file server, e.g. /data-volume/sub. */
  remotePath: string;
  mountpoint: string;
  readOnly: boolean;
  owner: { uid: number; gid: number };
}

/** Where sshfs and fusermount3 are; throws KVPN_ERR_MOUNT_FUSE_MISSING naming the package. */
export function requireFuse(): void {
  const missing: string[] = [];
  for (const bin of ['sshfs', 'fusermount3'])
    if (!['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin'].some((d) => executable(`${d}/${bin}`))) missing.push(bin);
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch {
    missing.push('/dev/fuse');
  }
  if (missing.length)
    throw mountError(
      'KVPN_ERR_MOUNT_FUSE_MISSING',
      `FUSE volumes need ${missing.join(', ')}, which this machine does not have`,
      missing.includes('/dev/fuse')
        ? 'Load the fuse module (`modprobe fuse`) or run where /dev/fuse exists; ConfigMap and Secret volumes mount without it (--only).'
        : 'Install the "sshfs" package (Debian/Ubuntu: `sudo apt install sshfs`; Fedora: `sudo dnf install fuse-sshfs`).',
    );
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function sshfsArgs(o: SshfsOptions): string[] {
  const options = [
    `directport=${o.port}`,
    'allow_other',
    'default_permissions',
    `uid=${o.owner.uid}`,
    `gid=${o.owner.gid}`,
    // A lost pod answers EIO at once instead of hanging; a new stream is tried on the next call.
    'reconnect',
    `dcache_timeout=${SSHFS_DIR_CACHE_S}`,
    'fsname=kvpn',
    'subtype=kvpn',
    ...(o.readOnly ? ['ro'] : []),
  ];
  return [`127.0.0.1:${o.remotePath}`, o.mountpoint, '-o', options.join(',')];
}

/**
 * Starts sshfs in the foreground, detached, so its pid can be journaled (on SIGTERM it unmounts,
 * which also works from another mount namespace); resolves once the mount is up.
 */
export async function sshfsMount(o: SshfsOptions & { logFile: string }): Promise<{ pid: number }> {
  const log = openSync(o.logFile, 'a', 0o600);
  const child = spawn('sshfs', [...sshfsArgs(o), '-f'], { detached: true, stdio: ['ignore', 'ignore', log] });
  closeSync(log);
  child.unref();
  let exited: number | string | undefined;
  child.once('exit', (code, signal) => {
    exited = code ?? signal ?? 'unknown';
  });
  child.once('error', (err) => {
    exited = err.message;
  });
  const deadline = Date.now() + MOUNT_TIMEOUT_MS;
  while (exited === undefined && Date.now() < deadline) {
    if (mountsUnder(o.mountpoint).includes(o.mountpoint)) return { pid: child.pid as number };
    await new Promise((r) => setTimeout(r, 25));
  }
  if (exited === undefined) child.kill('SIGTERM');
  const said = readFileSync(o.logFile, 'utf8').trim().split('\n').slice(-2).join(' ');
  throw mountError(
    'KVPN_ERR_MOUNT_SSHFS',
    `sshfs could not mount ${o.mountpoint}: ${said || (exited === undefined ? 'timed out' : `exited (${exited})`)}`,
    'Check `kvpn status` and the file server (`kubectl logs POD -c kvpn-files-…`); then `kvpn mount` again.',
  );
}

/** Octal escapes of /proc/self/mountinfo (`\040` for a space). */
const unescapeOctal = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const base = dir.replace(/\/+$/, '');
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map(unescapeOctal)
    .filter((p) => p === base || p.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Shows `source` at `target` read-only (a bind mount, remounted ro): the kubelet mounts ConfigMap,
 * Secret and downward API volumes read-only too, and the files are the user's on the laptop.
 */
export async function bindReadOnly(source: string, target: string): Promise<void> {
  await run('mount', ['--bind', source, target], { timeout: 10_000 });
  await run('mount', ['-o', 'remount,bind,ro,nosuid,nodev', target], { timeout: 10_000 });
}

/** Detaches a FUSE mount (lazily: a process inside it cannot keep it); false if nothing was mounted there. */
export async function unmount(mountpoint: string): Promise<boolean> {
  if (!mountsUnder(mountpoint).includes(mountpoint)) return false;
  try {
    await run('fusermount3', ['-u', '-z', mountpoint], { timeout: 10_000 });
  } catch {
    await run('umount', ['-l', mountpoint], { timeout: 10_000 });
  }
  return true;
}
