// The measuring tools of `npm run bench -- compare`, each run in the laptop
// namespace: iperf3 (bulk throughput; a one-shot `iperf3 -s -1` is started
// in the bench-iperf pod's namespace for every run), our load client
// (bench/compare/client.ts: connection latency, HTTP requests/s, held
// connections) and dnsperf (DNS queries/s and latency).
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { percentile } from '../report.js';
import { stopChild } from './cleanup.js';
import { MachineMeter, type Usage, UsageMeter } from './proc.js';
import { type BenchWorld, type Endpoint, IPERF_PORT, inNetns, waitForLine } from './world.js';

export interface Failed {
  error: string;
}

/** Where the CPU went during a measurement, beside the system's own processes (`usage`). */
export interface Machine {
  /** Busy time of the whole machine, % summed over cores (200 % = both cores busy). */
  machineBusyPercent: number;
  /** The test world's own processes (BenchWorld.worldPids: the stand-in's daemon; the real control plane, kubelet, containerd), % of one core. */
  apiServerCpuPercent: number;
}

export interface Bulk extends Partial<Machine> {
  MBps: number;
  retransmits?: number;
  usage?: Usage;
  /** Set when MBps is the client's own per-second reports (fromIntervals): over how long, and why. */
  clientSide?: { seconds: number; reason: string };
}

interface IperfDoc {
  error?: string;
  intervals?: { sum?: { bytes?: number; seconds?: number } }[];
  end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } };
}

/** The run's JSON document (iperf3 may print a WARNING line before it). */
function iperfDoc(text: string): IperfDoc | undefined {
  const at = text.search(/^\{/m);
  if (at < 0) return undefined;
  try {
    return JSON.parse(text.slice(at)) as IperfDoc;
  } catch {
    return undefined;
  }
}

/**
 * A run whose end-of-test exchange was lost — kubectl port-forward exits on
 * the reset that ends an upload and takes the control connection with it —
 * still has the client's per-second reports: the receiver's for a download,
 * the sender's (what the path accepted) for an upload. Used when they cover
 * at least half the run; the result says so (Bulk.clientSide).
 */
function fromIntervals(doc: IperfDoc, seconds: number): { MBps: number; seconds: number } | undefined {
  let bytes = 0;
  let covered = 0;
  for (const i of doc.intervals ?? []) {
    bytes += i.sum?.bytes ?? 0;
    covered += i.sum?.seconds ?? 0;
  }
  return covered >= seconds / 2 && bytes > 0 ? { MBps: bytes / covered / 1e6, seconds: covered } : undefined;
}

/** Starts the machine-wide meters; the returned function stops them. */
function machineMeters(world: BenchWorld): () => Machine {
  const machine = new MachineMeter().start();
  const api = new UsageMeter(() => world.worldPids).start();
  return () => ({ machineBusyPercent: machine.stop(), apiServerCpuPercent: api.stop().cpuPercent });
}

export interface BulkOptions {
  seconds: number;
  streams: number;
  /** Download (server sends): iperf3 -R. */
  download: boolean;
}

function collect(child: ChildProcess): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  return { out: () => out, err: () => err };
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** One iperf3 run from the laptop to `target` (which leads to the bench-iperf pod). */
export async function iperf(
  world: BenchWorld,
  target: Endpoint,
  opts: BulkOptions,
  pids: () => readonly number[],
): Promise<Bulk | Failed> {
  const [cmd = '', ...argv] = inNetns(world.iperfNetns, [
    'iperf3',
    '-s',
    '-1',
    '--forceflush',
    '-p',
    String(IPERF_PORT),
  ]);
  const server = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await waitForLine(server, /Server listening/, 10_000);
    server.stdout?.resume();
    const args = ['-c', target.host, '-p', String(target.port), '-t', String(opts.seconds)];
    args.push('-P', String(opts.streams), '-J', '--connect-timeout', '30000');
    if (opts.download) args.push('-R');
    const meter = new UsageMeter(pids).start();
    const machine = machineMeters(world);
    const client = world.laptopSpawn('iperf3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = collect(client);
    const code = await exited(client, (opts.seconds + 40) * 1000);
    const usage = meter.stop();
    const cpu = machine();
    const doc = iperfDoc(output.out());
    if (!doc) return { error: `iperf3 exited ${code}: ${output.err().trim() || output.out().slice(0, 300)}` };
    const measured = pids().length > 0 ? { usage } : {};
    const bps = doc.end?.sum_received?.bits_per_second;
    if (doc.error || !bps) {
      const reason = `iperf3: ${doc.error ?? `exited ${code} without a result`}`;
      const partial = fromIntervals(doc, opts.seconds);
      if (!partial) return { error: reason };
      return { MBps: partial.MBps, clientSide: { seconds: partial.seconds, reason }, ...cpu, ...measured };
    }
    return { MBps: bps / 8 / 1e6, retransmits: doc.end?.sum_sent?.retransmits, ...cpu, ...measured };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    await stopChild(server, 'SIGKILL');
  }
}

export interface ClientResult extends Partial<Machine> {
  [figure: string]: unknown;
  usage?: Usage;
  heldRssMiB?: number;
}

/**
 * One run of the load client in the laptop namespace. In hold mode, RSS is
 * sampled once all connections are open, and `onHeld` (if given) starts
 * then, while they are held; the run's result waits for it.
 */
export async function client(
  world: BenchWorld,
  args: string[],
  pids: () => readonly number[],
  timeoutMs: number,
  onHeld?: () => Promise<void>,
): Promise<ClientResult | Failed> {
  const meter = new UsageMeter(pids).start();
  const machine = machineMeters(world);
  const child = world.laptopSpawn(process.execPath, [world.build.client, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(child);
  let heldRssMiB: number | undefined;
  let held: Record<string, number> | undefined;
  let whileHeld: Promise<void> | undefined;
  child.stdout?.on('data', () => {
    if (held) return;
    const m = /^HELD (.*)$/m.exec(output.out());
    if (m) {
      held = JSON.parse(m[1] as string);
      heldRssMiB = meter.rssNowMiB();
      whileHeld = onHeld?.();
    }
  });
  const code = await exited(child, timeoutMs);
  const usage = meter.stop();
  const cpu = machine();
  await whileHeld;
  const m = /^RESULT (.*)$/m.exec(output.out());
  if (!m)
    return {
      error: `client exited ${code} without a result (timeout ${timeoutMs} ms?): ${output.err().trim().slice(-300)}`,
    };
  return {
    ...(JSON.parse(m[1] as string) as ClientResult),
    ...cpu,
    ...(pids().length ? { usage } : {}),
    ...(pids().length && heldRssMiB !== undefined ? { heldRssMiB } : {}),
  };
}

/**
 * Until one echo comes back from `target` through the system just started
 * (sshuttle, for one, installs its iptables rules only after it prints
 * "Connected"); resolves with the time it took, rejects after `timeoutMs`.
 */
export async function probeEcho(world: BenchWorld, target: Endpoint, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  let last = '';
  while (performance.now() - t0 < timeoutMs) {
    const args = ['--mode', 'connect', '--host', target.host, '--port', String(target.port), '--count', '1'];
    const r = await client(world, [...args, '--timeout-ms', '3000'], () => [], 10_000);
    if (!failed(r) && r.ok === 1) return performance.now() - t0;
    last = failed(r) ? r.error : String(r.firstError);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no echo from ${target.host}:${target.port} within ${timeoutMs} ms: ${last}`);
}

export interface DnsRun {
  qps: number;
  completed: number;
  lost: number;
  meanMs: number;
  p50Ms?: number;
  p99Ms?: number;
}

/** dnsperf from the laptop to `server`: flat out (100 outstanding) or at a fixed `rate` with per-query latency. */
export async function dnsperf(
  world: BenchWorld,
  server: string,
  names: string[],
  seconds: number,
  dir: string,
  rate?: number,
): Promise<DnsRun | Failed> {
  const file = join(dir, 'dnsperf-names.txt');
  writeFileSync(file, `${names.join('\n')}\n`);
  const args = ['-s', server, '-d', file, '-l', String(seconds), '-t', '2'];
  if (rate) args.push('-Q', String(rate), '-v');
  else args.push('-q', '100');
  const child = world.laptopSpawn('dnsperf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const latencies: number[] = [];
  let text = '';
  let rest = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('> ')) latencies.push(Number(line.slice(line.lastIndexOf(' ') + 1)) * 1000);
      else text += `${line}\n`;
    }
  });
  const code = await exited(child, (seconds + 20) * 1000);
  const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? Number.NaN);
  const qps = num(/Queries per second:\s+([\d.]+)/);
  if (!Number.isFinite(qps)) return { error: `dnsperf exited ${code}: ${text.slice(-300)}` };
  return {
    qps,
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    meanMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    ...(rate ? { p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) } : {}),
  };
}

export function failed(x: unknown): x is Failed {
  return typeof x === 'object' && x !== null && 'error' in x && typeof (x as Failed).error === 'string';
}
