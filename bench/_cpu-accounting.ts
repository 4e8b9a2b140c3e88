// Where the machine's CPU goes while a benchmark moves bytes: every process's
// CPU time from /proc/<pid>/stat (all its threads: JS, GC, libuv, kernel time
// spent in its system calls and in the softirqs it triggered), grouped by a
// role the caller assigns, plus the machine's busy time from /proc/stat. The
// difference ("other") is kernel work not charged to any of them (softirq
// threads, interrupts) and processes outside the benchmark.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

export interface CpuSnapshot {
  /** CPU seconds per role, summed over the processes in it. */
  roles: Map<string, number>;
  /** Busy CPU seconds of the whole machine (all cores, since boot). */
  machine: number;
}

/** Assigns a process to a role from its pid and command line; undefined = not counted by role. */
export type Classifier = (pid: number, cmdline: string) => string | undefined;

function processCpuSeconds(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined; // the process exited between readdir and read
  }
}

function machineBusySeconds(): number {
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
  const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - (cpu[3] ?? 0) - (cpu[4] ?? 0);
  return busy / TICKS_PER_SECOND;
}

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
    const seconds = processCpuSeconds(pid);
    if (seconds !== undefined) roles.set(role, (roles.get(role) ?? 0) + seconds);
  }
  return { roles, machine: machineBusySeconds() };
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
