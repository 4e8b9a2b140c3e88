// `kvpn run --mount`: inside a private mount namespace (made by `unshare
// --mount --propagation private` before this runs), each mounted volume is
// bind-mounted at its real path, so /etc/config/app.yaml is the pod's file
// for this command only and nothing else on the machine sees it.
//
// A path whose parent does not exist here (/var/run/secrets/…) is made in an
// overlay over its nearest existing ancestor: the ancestor's files stay
// visible, what is mounted below it is bound back, and the new folders live in
// a tmpfs that goes with the namespace.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mountError } from './errors.js';

export interface PrivateMount {
  /** The path in the container, e.g. /etc/config. */
  mountPath: string;
  /** Where the session shows it, e.g. /run/user/1000/kvpn/web-1a2b3c/etc/config. */
  localPath: string;
}

const mount = (args: string[]): void => {
  execFileSync('mount', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** Octal escapes of /proc/self/mountinfo (`\040` for a space). */
const unescapeOctal = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** Mount points strictly below `dir` with no other such mount point between (first-level submounts). */
export function submountsOf(dir: string, mountinfo: string): string[] {
  const base = dir === '/' ? '' : dir;
  const below = [
    ...new Set(
      mountinfo
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((p): p is string => p !== undefined)
        .map(unescapeOctal)
        .filter((p) => p.startsWith(`${base}/`)),
    ),
  ];
  return below.filter((p) => !below.some((q) => q !== p && p.startsWith(`${q}/`)));
}

/** The mount point `path` (a real path) is on: the longest mount point that is it or a folder above it. */
export function mountOf(path: string, mountinfo: string): string {
  let best = '/';
  for (const line of mountinfo.split('\n')) {
    const raw = line.split(' ')[4];
    if (raw === undefined) continue;
    const p = unescapeOctal(raw);
    if ((path === p || path.startsWith(p === '/' ? '/' : `${p}/`)) && p.length > best.length) best = p;
  }
  return best;
}

/** The nearest existing ancestor of `path`, with symlinks resolved (/var/run → /run). */
export function existingAncestor(path: string, exists: (p: string) => boolean = existsSync): string {
  let p = dirname(path);
  while (!exists(p)) p = dirname(p);
  return p;
}

/** Runs in the private namespace, as root; `scratch` is an existing directory of the session's. */
export function bindAtRealPaths(mounts: PrivateMount[], scratch: string): void {
  mount(['-t', 'tmpfs', '-o', 'mode=0700', 'kvpn-scratch', scratch]);
  // Hold every source first: overlays below may cover where they are.
  const held = mounts.map((m, i) => {
    const at = join(scratch, 'src', String(i));
    const isDir = statSync(m.localPath).isDirectory();
    if (isDir) mkdirSync(at, { recursive: true });
    else {
      mkdirSync(dirname(at), { recursive: true });
      writeFileSync(at, '');
    }
    mount(['--rbind', m.localPath, at]);
    return { ...m, at, isDir };
  });
  let overlays = 0;
  const overlaid: string[] = [];
  // Writable only where the mount a folder is on is one of our overlays: a submount bound back
  // into an overlay is the host's own filesystem again.
  const writable = (dir: string): boolean =>
    overlaid.includes(mountOf(dir, readFileSync('/proc/self/mountinfo', 'utf8')));
  for (const m of held) {
    const ancestor = existsSync(m.mountPath) ? undefined : realpathSync(existingAncestor(m.mountPath));
    if (ancestor !== undefined && !writable(ancestor)) {
      if (ancestor === '/')
        throw mountError(
          'KVPN_ERR_MOUNT_REAL_PATH',
          `${m.mountPath} cannot be made here: no folder above it exists but /`,
          `Create its parent once (\`sudo mkdir -p ${dirname(m.mountPath)}\`), or read it under KVPN_ROOT.`,
        );
      const work = join(scratch, 'overlay', String(overlays++));
      for (const d of ['lower', 'upper', 'work']) mkdirSync(join(work, d), { recursive: true });
      const submounts = submountsOf(ancestor, readFileSync('/proc/self/mountinfo', 'utf8'));
      mount(['--rbind', ancestor, join(work, 'lower')]);
      mount([
        '-t',
        'overlay',
        'kvpn',
        '-o',
        `lowerdir=${join(work, 'lower')},upperdir=${join(work, 'upper')},workdir=${join(work, 'work')}`,
        ancestor,
      ]);
      for (const sub of submounts) mount(['--rbind', join(work, 'lower', sub.slice(ancestor.length)), sub]);
      overlaid.push(ancestor);
    }
    if (m.isDir) mkdirSync(m.mountPath, { recursive: true });
    else if (!existsSync(m.mountPath)) {
      mkdirSync(dirname(m.mountPath), { recursive: true });
      writeFileSync(m.mountPath, '');
    }
    mount(['--rbind', m.at, m.mountPath]);
  }
}
