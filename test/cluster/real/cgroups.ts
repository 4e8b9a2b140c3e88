// The real world's pods live in cgroups under one directory per world
// (the kubelet's cgroupRoot) in every cgroup v1 hierarchy, which is
// machine-wide: made before the kubelet starts, and emptied (every process
// killed) and removed, deepest first, when the world goes, also after a
// crash.
import { mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const CGROUP_FS = '/sys/fs/cgroup';
/** What the kubelet's cgroupfs driver needs on cgroup v1 (runc also writes the hybrid `unified` tree). */
const HIERARCHIES = ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'blkio', 'devices', 'freezer', 'systemd', 'unified'];

async function present(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export async function createCgroupRoot(root: string): Promise<void> {
  for (const h of HIERARCHIES) {
    const base = join(CGROUP_FS, h);
    if (!(await present(base))) continue;
    const dir = join(base, root);
    await mkdir(dir, { recursive: true });
    if (h === 'cpuset') {
      // A cpuset cgroup takes no task until it has CPUs and memory nodes.
      for (const f of ['cpuset.cpus', 'cpuset.mems'])
        await writeFile(join(dir, f), await readFile(join(base, f), 'utf8'));
    }
  }
}

/** Every cgroup directory below (and including) `dir`, deepest first. */
async function cgroupTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) out.push(...(await cgroupTree(join(dir, e.name))));
  out.push(dir);
  return out;
}

async function pidsOf(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

/** Kills every process under `root` and removes its cgroups; returns how many processes it killed. */
export async function removeCgroupRoot(root: string): Promise<number> {
  let killed = 0;
  for (let attempt = 0; attempt < 50; attempt++) {
    let alive = 0;
    for (const h of HIERARCHIES) {
      for (const dir of await cgroupTree(join(CGROUP_FS, h, root))) {
        for (const pid of await pidsOf(dir)) {
          alive++;
          try {
            process.kill(pid, 'SIGKILL');
            killed++;
          } catch {}
        }
      }
    }
    if (alive === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const h of HIERARCHIES) {
    for (const dir of await cgroupTree(join(CGROUP_FS, h, root))) await rmdir(dir).catch(() => undefined);
  }
  return killed;
}

/** The kubelet's cgroupRoot in a real world. */
export function realWorldCgroupRoot(worldId: string): string {
  return `/kvpn-${worldId}`;
}
