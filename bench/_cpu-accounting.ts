// Where the machine's CPU goes while a benchmark moves bytes: every process's
// CPU time from /proc/<pid>/stat (all its threads: JS, GC, libuv, kernel time
// spent in its system calls and in the softirqs it triggered), grouped by a
// role the caller assigns, plus the machine's busy time from /proc/stat. The
// difference ("other") is kernel work not charged to any of them (softirq
// threads, interrupts) and processes outside the benchmark.
import { readdirSync, readFileSync } from 'node:fs';
import { CLOCK_TICKS_PER_S, readMachineTicks, readProcess } from './compare/proc.js';

export interface CpuSnapshot {
  /** CPU seconds per role, summed over the processes in it. */
  roles: Map<string, number>;
  /** Busy CPU seconds of the whole machine (all cores, since boot). */
  machine: number;
}

/** Assigns a process to a role from its pid and command line; undefined = not counted by role. */
export type Classifier = (pid: number, cmdline: string) => string | undefined;

export function takeCpuSnapshot(classify: Classifier): CpuSnapshot {
  const roles = new Map<string, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    const role = classify(Number(pid), cmdline);
    if (role === undefined) continue;
    const seconds = readProcess(Number(pid))?.cpuSeconds; // undefined: it exited meanwhile
    if (seconds !== undefined) roles.set(role, (roles.get(role) ?? 0) + seconds);
  }
  return { roles, machine: readMachineTicks().busy / CLOCK_TICKS_PER_S };
}

/**
 * CPU seconds spent between two snapshots, per role, plus `machine` (all
 * busy time) and `other` (machine minus the roles). A process that started
 * in between counts from zero; one that exited in between is lost to "other".
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  let counted = 0;
  for (const [role, seconds] of after.roles) {
    const spent = Math.max(0, seconds - (before.roles.get(role) ?? 0));
    out[role] = spent;
    counted += spent;
  }
  out.machine = after.machine - before.machine;
  out.other = Math.max(0, out.machine - counted);
  return out;
}
