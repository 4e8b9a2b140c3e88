// Renders the shell script that turns a process into a container. It runs
// under `ip netns exec POD unshare --uts` (so it already has the pod's
// network and a private mount namespace) and builds the container's root:
// an overlay of the machine's / with a tmpfs upper layer, fresh /proc, /tmp
// and /dev, the pod's resolv.conf and hosts, the volumes at their
// mountPath, then chroot, setpriv for the securityContext, and exec.

export interface ContainerLaunch {
  /** Directory (on the host) for this container's scratch mounts. */
  dir: string;
  hostname: string;
  resolvConf: string;
  hostsFile: string;
  mounts: { source: string; path: string; readOnly: boolean; subPath?: string }[];
  hostBinds: { from: string; to: string }[];
  rootBinds: { from: string; to: string }[];
  env: Record<string, string>;
  argv: string[];
  workingDir?: string;
  runAsUser?: number;
  runAsGroup?: number;
  readOnlyRootFilesystem?: boolean;
  dropAllCapabilities?: boolean;
  noNewPrivileges?: boolean;
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function safePath(p: string): string {
  const parts = p.split('/').filter((x) => x && x !== '.' && x !== '..');
  return `/${parts.join('/')}`;
}

export function renderContainerScript(c: ContainerLaunch): string {
  const q = shellQuote;
  const R = `${c.dir}/root`;
  const lines = [
    'set -e',
    `hostname ${q(c.hostname)}`,
    `mkdir -p ${q(`${c.dir}/rw`)} ${q(R)}`,
    `mount -t tmpfs -o size=2g,mode=755 tmpfs ${q(`${c.dir}/rw`)}`,
    `mkdir -p ${q(`${c.dir}/rw/upper`)} ${q(`${c.dir}/rw/work`)}`,
    `mount -t overlay overlay -o lowerdir=/,upperdir=${c.dir}/rw/upper,workdir=${c.dir}/rw/work ${q(R)}`,
    `mount -t proc proc ${q(`${R}/proc`)}`,
    `mount --rbind /dev ${q(`${R}/dev`)}`,
    `mount --rbind /sys ${q(`${R}/sys`)}`,
    `mount -t tmpfs -o mode=1777 tmpfs ${q(`${R}/tmp`)}`,
    `mount -t tmpfs -o mode=755 tmpfs ${q(`${R}/run`)}`,
    `mount --bind ${q(c.resolvConf)} ${q(`${R}/etc/resolv.conf`)}`,
    `mount --bind ${q(c.hostsFile)} ${q(`${R}/etc/hosts`)}`,
  ];
  for (const b of c.rootBinds) {
    const to = `${R}${safePath(b.to)}`;
    lines.push(`mkdir -p ${q(to)}`, `mount --bind ${q(`${R}${safePath(b.from)}`)} ${q(to)}`);
  }
  for (const b of c.hostBinds) {
    const to = `${R}${safePath(b.to)}`;
    lines.push(`mkdir -p ${q(to)}`, `mount --bind ${q(b.from)} ${q(to)}`, `mount -o remount,bind,ro ${q(to)}`);
  }
  for (const m of c.mounts) {
    const to = `${R}${safePath(m.path)}`;
    const source = m.subPath ? `${m.source}/${safePath(m.subPath).slice(1)}` : m.source;
    if (m.subPath)
      lines.push(
        `if [ -d ${q(source)} ]; then mkdir -p ${q(to)}; else mkdir -p "$(dirname ${q(to)})"; touch ${q(to)}; fi`,
      );
    else lines.push(`mkdir -p ${q(to)}`);
    lines.push(`mount --bind ${q(source)} ${q(to)}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${q(to)}`);
  }
  if (c.readOnlyRootFilesystem) {
    lines.push(
      `mount -o remount,bind,ro ${q(R)}`,
      `mount -o remount,ro ${q(`${R}/tmp`)}`,
      `mount -o remount,ro ${q(`${R}/run`)}`,
    );
  }
  const priv: string[] = [];
  if (c.runAsUser !== undefined || c.runAsGroup !== undefined || c.dropAllCapabilities || c.noNewPrivileges) {
    priv.push('setpriv');
    if (c.runAsUser !== undefined) priv.push(`--reuid=${c.runAsUser}`);
    const gid = c.runAsGroup ?? c.runAsUser;
    if (gid !== undefined) priv.push(`--regid=${gid}`, '--clear-groups');
    if (c.noNewPrivileges) priv.push('--no-new-privs');
    if (c.dropAllCapabilities) priv.push('--inh-caps=-all', '--bounding-set=-all');
    priv.push('--');
  }
  const env = Object.entries(c.env).map(([k, v]) => q(`${k}=${v}`));
  const cwd = c.workingDir ? ['-C', q(safePath(c.workingDir))] : [];
  lines.push(
    `exec chroot ${q(R)} ${priv.map(q).join(' ')} /usr/bin/env -i ${cwd.join(' ')} ${env.join(' ')} ${c.argv.map(q).join(' ')}`,
  );
  return `${lines.join('\n')}\n`;
}
