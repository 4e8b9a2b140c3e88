// Removes what a world left in the system: its network namespaces (after
// killing every process still inside them), its /etc/netns files, and its
// directory. Works from names alone, so it also cleans up after a crash.
import { readdir, rm } from 'node:fs/promises';
import { realWorldCgroupRoot, removeCgroupRoot } from '../real/cgroups.js';
import { run } from './shell.js';
import { killNetnsProcesses } from './topology.js';

async function listDir(path: string): Promise<string[]> {
  return readdir(path).catch(() => [] as string[]);
}

/** Network namespaces whose names start with `${worldId}-`. */
export async function worldNetnsNames(worldId: string): Promise<string[]> {
  return (await listDir('/run/netns')).filter((n) => n.startsWith(`${worldId}-`));
}

export async function sweepWorld(
  worldId: string,
  worldDir: string | undefined,
  sparePid?: number,
): Promise<{ netns: number }> {
  const names = await worldNetnsNames(worldId);
  // Kill first everywhere, then delete: a pod's process may hold a node's socket.
  await Promise.all(names.map((n) => killNetnsProcesses(n, sparePid)));
  // A real world's pods are in no named namespace: they are found by cgroup.
  await removeCgroupRoot(realWorldCgroupRoot(worldId));
  await Promise.all(names.map((n) => run('ip', ['netns', 'delete', n]).catch(() => undefined)));
  const etc = (await listDir('/etc/netns')).filter((n) => n.startsWith(`${worldId}-`));
  await Promise.all(etc.map((n) => rm(`/etc/netns/${n}`, { recursive: true, force: true })));
  if (worldDir) await removeWorldDir(worldDir);
  return { netns: names.length };
}

/** Unmounts anything still mounted below the world dir, then deletes it. */
export async function removeWorldDir(dir: string): Promise<void> {
  const mounts = await run('findmnt', ['-rn', '-o', 'TARGET']).catch(() => '');
  const under = mounts
    .split('\n')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of under) await run('umount', ['-l', m]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
