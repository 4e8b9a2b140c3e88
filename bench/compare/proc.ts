// CPU time and resident memory of the laptop-side processes of one system
// under test (kvpn's daemon, the port-forward bridge, sshuttle + ssh), read
// from /proc while a measurement runs: CPU % of one core over the run, and
// the highest RSS seen (sampled every SAMPLE_INTERVAL_MS). Also the whole
// machine's busy time, to tell a CPU-bound run (all cores busy) from one
// that waits.
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export const CLOCK_TICKS_PER_S = 100; // getconf CLK_TCK on Linux
const PAGE_BYTES = 4096;
const SAMPLE_INTERVAL_MS = 200;

export interface Usage {
  /** CPU time used over the window, as % of one core. */
  cpuPercent: number;
  cpuSeconds: number;
  rssMaxMiB: number;
  rssEndMiB: number;
  seconds: number;
}

/** utime + stime (s) and RSS (bytes) of one process, or undefined once it is gone. */
export function readProcess(pid: number): { cpuSeconds: number; rssBytes: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at state (field 3).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const rssPages = Number(fields[21]);
    return { cpuSeconds: ticks / CLOCK_TICKS_PER_S, rssBytes: rssPages * PAGE_BYTES };
  } catch {
    return undefined;
  }
}

/** `root` and every process descended from it. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {}
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

/** Measures a set of processes from start() to stop(). */
export class UsageMeter {
  readonly #pids: () => readonly number[];
  #timer: NodeJS.Timeout | undefined;
  #t0 = 0;
  /** CPU seconds of each process seen: at its first sample, and at its last (a process that exits keeps its last). */
  #cpuFirst = new Map<number, number>();
  #cpuLast = new Map<number, number>();
  #rssNow = 0;
  #rssMax = 0;

  constructor(pids: () => readonly number[]) {
    this.#pids = pids;
  }

  start(): this {
    this.#t0 = performance.now();
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), SAMPLE_INTERVAL_MS);
    return this;
  }

  #sample(): void {
    let rss = 0;
    for (const pid of this.#pids()) {
      const p = readProcess(pid);
      if (!p) continue;
      // A process born during the window counts from zero.
      if (!this.#cpuFirst.has(pid)) this.#cpuFirst.set(pid, this.#timer ? 0 : p.cpuSeconds);
      this.#cpuLast.set(pid, p.cpuSeconds);
      rss += p.rssBytes;
    }
    this.#rssNow = rss;
    this.#rssMax = Math.max(this.#rssMax, rss);
  }

  /** RSS now, without ending the window. */
  rssNowMiB(): number {
    this.#sample();
    return this.#rssNow / 2 ** 20;
  }

  stop(): Usage {
    clearInterval(this.#timer);
    this.#sample();
    const seconds = (performance.now() - this.#t0) / 1000;
    let cpuSeconds = 0;
    for (const [pid, last] of this.#cpuLast) cpuSeconds += last - (this.#cpuFirst.get(pid) ?? last);
    return {
      cpuPercent: (cpuSeconds / seconds) * 100,
      cpuSeconds,
      rssMaxMiB: this.#rssMax / 2 ** 20,
      rssEndMiB: this.#rssNow / 2 ** 20,
      seconds,
    };
  }
}

/** The whole machine's CPU time from /proc/stat, in clock ticks (all cores): busy, and busy + idle. */
export function readMachineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return { busy, total: busy + (idle ?? 0) + (iowait ?? 0) };
}

/** Busy CPU time of the whole machine from /proc/stat: 100 % per busy core (200 % = both). */
export class MachineMeter {
  #busy0 = 0;
  #total0 = 0;

  start(): this {
    const s = readMachineTicks();
    this.#busy0 = s.busy;
    this.#total0 = s.total;
    return this;
  }

  /** Busy % over the window, summed over cores. */
  stop(): number {
    const s = readMachineTicks();
    const total = s.total - this.#total0;
    return total > 0 ? ((s.busy - this.#busy0) / total) * 100 * cpus().length : Number.NaN;
  }
}
