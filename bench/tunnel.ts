// `npm run bench -- tunnel [--seconds N] [--rounds N] [--rtt MS] [--streams N]`
//
// Both carriers in one run: `tunnel` is the HTTP/2 carrier (tunnel protocol 1),
// `mux` the mux carrier (protocol 2), each through the same relay to the same server.
//
// On the test world (test/cluster), in one run:
//   1. streams opened per second through the tunnel (and raw port-forwards per second)
//   2. one raw port-forward stream to a bulk server pod (our transport's ceiling), and the
//      same through two bare forwarder pods (the relay hop alone; see _tunnel-references.ts)
//   3. one stream through the tunnel (relay deployed by our code) to the same server
//      → overhead = 1 - tunnel/raw, each way (target ≤ 20 %)
//   4. 2 and 3 again with RTT added between laptop and API server (target: tunnel ≥ 50 MB/s)
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { KubeClient } from '../src/kube/client.js';
import { openPortForward } from '../src/kube/port-forward.js';
import { deployRelay } from '../src/relay/deploy.js';
import type { CarrierKind } from '../src/tunnel/carrier.js';
import { TunnelDialer } from '../src/tunnel/dialer.js';
import { DelayProxy } from '../test/cluster/faults/delay-proxy.js';
import { startCluster } from '../test/cluster/index.js';
import { laptopApi } from '../test/session/helpers/laptop-api.js';
import { type CpuSnapshot, cpuBetween, takeCpuSnapshot } from './_cpu-accounting.js';
import { BULK_PORT, PROCESS_MARKERS, startReferencePods } from './_tunnel-references.js';
import { MachineMeter } from './compare/proc.js';
import { type BenchReport, formatTable, percentile } from './report.js';

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

interface Sample {
  /** Bytes per second. */
  rate: number;
  /** CPU seconds per GiB moved, by process role (client, cluster, relay, target, other, machine). */
  cpu: Record<string, number>;
}

/** Roles for the CPU accounting: this process, test/cluster's daemon (API server + kubelet), the relay, a bare forwarder, the bulk server. */
function classify(pid: number, cmdline: string): string | undefined {
  if (pid === process.pid) return 'client';
  if (cmdline.includes('test/cluster/daemon')) return 'cluster';
  if (cmdline.includes('relay.cjs')) return 'relay';
  if (PROCESS_MARKERS.forwarder.some((m) => cmdline.includes(m))) return 'forwarder';
  if (cmdline.includes(PROCESS_MARKERS.target)) return 'target';
  return undefined;
}

/** Measures from the end of a warm-up to the end of the window: rate and CPU per GiB. */
class Meter {
  #bytes = 0;
  #start = 0;
  #cpu0: CpuSnapshot | undefined;
  readonly #t0 = performance.now();
  constructor(readonly warmupMs: number) {}
  add(n: number): void {
    if (this.#start) this.#bytes += n;
    else if (performance.now() - this.#t0 >= this.warmupMs) {
      this.#start = performance.now();
      this.#cpu0 = takeCpuSnapshot(classify);
    }
  }
  done(): Sample {
    const gib = this.#bytes / 2 ** 30;
    const spent = this.#cpu0 ? cpuBetween(this.#cpu0, takeCpuSnapshot(classify)) : {};
    return {
      rate: this.#bytes / ((performance.now() - this.#start) / 1000),
      cpu: Object.fromEntries(Object.entries(spent).map(([role, s]) => [role, s / gib])),
    };
  }
}

/** Reads from `conn` for `seconds` after a short warm-up. */
async function download(conn: Duplex, seconds: number): Promise<Sample> {
  const meter = new Meter(300);
  conn.on('data', (c: Buffer) => meter.add(c.length));
  conn.on('error', () => {});
  conn.write('D');
  await new Promise((r) => setTimeout(r, meter.warmupMs + seconds * 1000));
  const sample = meter.done();
  conn.destroy();
  return sample;
}

/** Writes to `conn` for `seconds`; counts what the server acknowledged (one byte per MiB). */
async function upload(conn: Duplex, seconds: number): Promise<Sample> {
  const chunk = Buffer.alloc(256 * 1024, 121);
  const meter = new Meter(300);
  let stop = false;
  conn.on('data', (c: Buffer) => meter.add(c.length * 1024 * 1024));
  conn.on('error', () => {});
  conn.write('U');
  const pump = (): void => {
    while (!stop && !conn.destroyed) if (!conn.write(chunk)) return void conn.once('drain', pump);
  };
  pump();
  await new Promise((r) => setTimeout(r, meter.warmupMs + seconds * 1000));
  stop = true;
  const sample = meter.done();
  conn.destroy();
  return sample;
}

/** Opens `total` streams, `concurrency` at a time; each is opened, answered by a FIN, closed. */
async function openRate(open: () => Promise<Duplex>, total: number, concurrency: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++;
      const conn = await open();
      conn.on('error', () => {});
      conn.resume();
      const ended = once(conn, 'end');
      conn.write('C');
      await ended;
      conn.destroy();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return total / ((performance.now() - t0) / 1000);
}

const MB = 1e6;
const CPU_ROLES = ['client', 'cluster', 'relay', 'forwarder', 'target', 'other', 'machine'];
const fixed = (n: number | undefined): string => (n ?? 0).toFixed(2);
/** Medians of one cell: bytes per second and CPU seconds per GiB by role. */
type Cell = { rate: number; cpu: Record<string, number> };
/** The ways one stream reaches the bulk server. */
type Arm = 'raw' | 'splice' | 'node' | 'tunnel' | 'mux';
type Direction = 'down' | 'up';
type Cells = Partial<Record<Arm, Record<Direction, Cell>>>;

const median = (xs: number[]): number => percentile(xs, 50);
const overhead = (base: number, other: number): number => Math.round((1 - other / base) * 1000) / 10;

/**
 * Waits until the machine is quiet again: a stream that was just closed
 * still has bytes in flight (up to a window's worth through the tunnel),
 * and their draining must not be charged to the next arm. Quiet = under
 * 25 % of one core busy over 200 ms; gives up after 10 s.
 */
async function settle(): Promise<boolean> {
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    const machine = new MachineMeter().start();
    await new Promise((r) => setTimeout(r, 200));
    if (machine.stop() < 25) return true;
  }
  return false;
}

/** What one set of arms measured; `unsettled`: runs that started with the machine still busy. */
interface ArmResults {
  cells: Cells;
  samples: Record<string, number[]>;
  unsettled: number;
}

/**
 * One stream on each arm, `rounds` times each way, alternating arms within
 * a round and starting each round one arm further on (the machine is
 * shared, so load shifts and drifts must hit every arm alike).
 */
async function measureArms(
  openers: Partial<Record<Arm, () => Promise<Duplex>>>,
  rounds: number,
  seconds: number,
): Promise<ArmResults> {
  const arms = Object.keys(openers) as Arm[];
  const runs = new Map<string, Sample[]>();
  let unsettled = 0;
  for (let i = 0; i < rounds; i++) {
    const order = [...arms.slice(i % arms.length), ...arms.slice(0, i % arms.length)];
    for (const dir of ['down', 'up'] as const) {
      for (const arm of order) {
        if (!(await settle())) unsettled++;
        const conn = await (openers[arm] as () => Promise<Duplex>)();
        const sample = dir === 'down' ? await download(conn, seconds) : await upload(conn, seconds);
        if (!(sample.rate > 0))
          throw new Error(`bench tunnel: the ${arm} arm moved no data (${dir}load, round ${i + 1})`);
        runs.set(`${arm}.${dir}`, [...(runs.get(`${arm}.${dir}`) ?? []), sample]);
      }
    }
  }
  const cell = (xs: Sample[]): Cell => ({
    rate: median(xs.map((x) => x.rate)),
    cpu: Object.fromEntries(CPU_ROLES.map((role) => [role, median(xs.map((x) => x.cpu[role] ?? 0))])),
  });
  const cells: Cells = {};
  for (const arm of arms) {
    cells[arm] = { down: cell(runs.get(`${arm}.down`) ?? []), up: cell(runs.get(`${arm}.up`) ?? []) };
  }
  const samples = Object.fromEntries([...runs].map(([k, v]) => [k, v.map((x) => Math.round(x.rate / MB))]));
  return { cells, samples, unsettled };
}

export async function run(args: string[]): Promise<BenchReport> {
  const seconds = arg(args, 'seconds', 2);
  const rounds = arg(args, 'rounds', 3);
  const rtt = arg(args, 'rtt', 20);
  const streams = arg(args, 'streams', 1000);
  execFileSync('node', ['scripts/bundle-relay.mjs'], { cwd: join(import.meta.dirname, '..'), stdio: 'inherit' });
  const teardowns: (() => unknown)[] = [];
  const cluster = await startCluster();
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-bench-tunnel-'));
  try {
    const api = await laptopApi({ teardown: (fn: () => unknown) => teardowns.push(fn) } as never, cluster, dir);
    const staging = KubeClient.load({ kubeconfig: api.kubeconfig, context: 'staging' });
    teardowns.push(() => staging.close());
    const pods = await startReferencePods(staging, cluster, dir);
    const relay = await deployRelay(staging, { sessionId: 'bench', owner: 'bench' });
    teardowns.push(() => relay.delete());
    const portForward = (client: KubeClient, pod: string, port: number) => () =>
      openPortForward(client, { namespace: 'default', pod, port });
    const tunnelDialer = async (client: KubeClient, carrier: CarrierKind = 'h2'): Promise<TunnelDialer> => {
      const dialer = new TunnelDialer({ client, relay, carriers: 4, carrier });
      teardowns.push(() => dialer.close());
      await dialer.ready(20_000);
      return dialer;
    };

    // Opening rates first, the tunnel's on a dialer of its own: after the
    // bulk runs, the reset streams' bytes still in flight (up to a window
    // each) drain for a while and the rate measured that drain.
    const opener = await tunnelDialer(staging);
    const streamsPerSecond = await openRate(() => opener.connect(pods.bulkIp, BULK_PORT), streams, 50);
    opener.close();
    const muxOpener = await tunnelDialer(staging, 'mux');
    const muxStreamsPerSecond = await openRate(() => muxOpener.connect(pods.bulkIp, BULK_PORT), streams, 50);
    muxOpener.close();
    const rawPerSecond = await openRate(portForward(staging, 'bulk', BULK_PORT), Math.min(200, streams), 10);

    const near = await tunnelDialer(staging);
    const nearMux = await tunnelDialer(staging, 'mux');
    const base = await measureArms(
      {
        raw: portForward(staging, 'bulk', BULK_PORT),
        splice: portForward(staging, pods.forwarders.splice.pod, pods.forwarders.splice.port),
        node: portForward(staging, pods.forwarders.node.pod, pods.forwarders.node.port),
        tunnel: () => near.connect(pods.bulkIp, BULK_PORT),
        mux: () => nearMux.connect(pods.bulkIp, BULK_PORT),
      },
      rounds,
      seconds,
    );
    near.close();
    nearMux.close();
    // RTT between this client and the API server: a userspace delay line in front of the forwarder.
    const delay = new DelayProxy('127.0.0.1', api.port, '127.0.0.1');
    delay.latencyMs = rtt;
    await delay.start();
    teardowns.push(() => delay.close());
    const delayedConfig = join(dir, 'kubeconfig-delayed');
    writeFileSync(
      delayedConfig,
      readFileSync(api.kubeconfig, 'utf8').replace(`127.0.0.1:${api.port}`, `127.0.0.1:${delay.port}`),
    );
    const far = KubeClient.load({ kubeconfig: delayedConfig, context: 'staging' });
    teardowns.push(() => far.close());
    const farDialer = await tunnelDialer(far);
    const farMux = await tunnelDialer(far, 'mux');
    const delayed = await measureArms(
      {
        raw: portForward(far, 'bulk', BULK_PORT),
        tunnel: () => farDialer.connect(pods.bulkIp, BULK_PORT),
        mux: () => farMux.connect(pods.bulkIp, BULK_PORT),
      },
      rounds,
      seconds,
    );
    farDialer.close();
    farMux.close();

    return report({ seconds, rounds, rtt, base, delayed, streamsPerSecond, muxStreamsPerSecond, rawPerSecond });
  } finally {
    for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => {});
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Measured {
  seconds: number;
  rounds: number;
  rtt: number;
  base: ArmResults;
  delayed: ArmResults;
  streamsPerSecond: number;
  muxStreamsPerSecond: number;
  rawPerSecond: number;
}

function report(m: Measured): BenchReport {
  const cells = m.base.cells as Required<Cells>;
  const far = m.delayed.cells as Pick<Required<Cells>, 'raw' | 'tunnel' | 'mux'>;
  const ways = [
    ['download', 'down'],
    ['upload', 'up'],
  ] as const;
  const row = (
    what: string,
    c: Pick<Required<Cells>, 'raw' | 'tunnel' | 'mux'>,
    dir: Direction,
  ): (string | number)[] => [
    what,
    c.raw[dir].rate / MB,
    c.tunnel[dir].rate / MB,
    c.mux[dir].rate / MB,
    `${overhead(c.raw[dir].rate, c.tunnel[dir].rate)} / ${overhead(c.raw[dir].rate, c.mux[dir].rate)}`,
    `${fixed(c.tunnel[dir].cpu.client)} / ${fixed(c.mux[dir].cpu.client)}`,
    `${fixed(c.raw[dir].cpu.machine)} / ${fixed(c.tunnel[dir].cpu.machine)} / ${fixed(c.mux[dir].cpu.machine)}`,
  ];
  const rows = [
    ...ways.map(([what, dir]) => row(`${what}, 0 ms added`, cells, dir)),
    ...ways.map(([what, dir]) => row(`${what}, ${m.rtt} ms RTT added`, far, dir)),
  ];
  // The relay hop alone: a raw port-forward to a bare forwarder pod that dials the bulk server.
  const hopTable = formatTable(
    [
      'one stream, 0 ms added',
      'raw MB/s',
      'splice forwarder MB/s (overhead %)',
      'Node forwarder MB/s (overhead %)',
      'tunnel MB/s (overhead %)',
      'tunnel vs Node forwarder %',
    ],
    ways.map(([what, dir]) => {
      const raw = cells.raw[dir].rate;
      const via = (arm: Arm): string =>
        `${(cells[arm][dir].rate / MB).toFixed(1)} (${overhead(raw, cells[arm][dir].rate)})`;
      return [
        what,
        raw / MB,
        via('splice'),
        via('node'),
        via('tunnel'),
        overhead(cells.node[dir].rate, cells.tunnel[dir].rate),
      ];
    }),
  );
  const arms: Arm[] = ['raw', 'splice', 'node', 'tunnel', 'mux'];
  const cpuTable = formatTable(
    ['CPU s/GiB, 0 ms added', ...ways.flatMap(([what]) => arms.map((arm) => `${what} ${arm}`))],
    CPU_ROLES.map((role) => [role, ...ways.flatMap(([, dir]) => arms.map((arm) => fixed(cells[arm][dir].cpu[role])))]),
  );
  const figures: Record<string, unknown> = {
    seconds: m.seconds,
    rounds: m.rounds,
    rttMs: m.rtt,
    tunnel_streams_per_s: m.streamsPerSecond,
    mux_streams_per_s: m.muxStreamsPerSecond,
    raw_port_forwards_per_s: m.rawPerSecond,
  };
  for (const [what, dir] of ways) {
    for (const arm of arms) figures[`${arm}_${what}_MBps`] = cells[arm][dir].rate / MB;
    figures[`overhead_${what}_pct`] = overhead(cells.raw[dir].rate, cells.tunnel[dir].rate);
    figures[`splice_hop_overhead_${what}_pct`] = overhead(cells.raw[dir].rate, cells.splice[dir].rate);
    figures[`node_hop_overhead_${what}_pct`] = overhead(cells.raw[dir].rate, cells.node[dir].rate);
    figures[`rtt_raw_${what}_MBps`] = far.raw[dir].rate / MB;
    figures[`rtt_tunnel_${what}_MBps`] = far.tunnel[dir].rate / MB;
    figures[`rtt_overhead_${what}_pct`] = overhead(far.raw[dir].rate, far.tunnel[dir].rate);
    figures[`mux_overhead_${what}_pct`] = overhead(cells.raw[dir].rate, cells.mux[dir].rate);
    figures[`rtt_mux_${what}_MBps`] = far.mux[dir].rate / MB;
    figures[`cpu_s_per_GiB_${what}`] = Object.fromEntries(arms.map((arm) => [arm, cells[arm][dir].cpu]));
    figures[`rtt_cpu_s_per_GiB_${what}`] = {
      raw: far.raw[dir].cpu,
      tunnel: far.tunnel[dir].cpu,
      mux: far.mux[dir].cpu,
    };
  }
  figures.samples_MBps = m.base.samples;
  figures.rtt_samples_MBps = m.delayed.samples;
  figures.unsettled_runs = m.base.unsettled + m.delayed.unsettled;
  return {
    name: 'tunnel',
    table: {
      columns: [
        'one stream',
        'raw port-forward MB/s',
        'HTTP/2 tunnel MB/s',
        'mux tunnel MB/s',
        'overhead % h2 / mux',
        'laptop CPU s/GiB h2 / mux',
        'machine CPU s/GiB raw / h2 / mux',
      ],
      rows,
    },
    figures,
    notes: [
      `Streams opened per second through the tunnel (50 at a time, open + FIN + close): HTTP/2 ${Math.round(m.streamsPerSecond)}, mux ${Math.round(m.muxStreamsPerSecond)}; raw port-forward WebSockets per second (10 at a time): ${Math.round(m.rawPerSecond)}.`,
      `Medians of ${m.rounds} alternating ${m.seconds} s runs per cell, each started once the machine was quiet (under a quarter of a core busy) — ${figures.unsettled_runs === 0 ? 'all were' : `${figures.unsettled_runs} were not, after waiting 10 s`}. The machine is shared with other work; CPU seconds per GiB are steadier than rates under load.`,
      `Targets: overhead ≤ 20 % vs one raw port-forward stream; with ${m.rtt} ms RTT, one tunnel stream ≥ 50 MB/s.`,
      `What a relay hop costs by itself: a raw port-forward to a bare forwarder pod that dials the bulk server, with nothing of the tunnel's (no HTTP/2, no token, no multiplexing). splice: C, splice(2), bytes never reach user space — its own process costs next to nothing, so its overhead is what a hop inside the cluster costs before anything runs in it. Node: a plain Node forwarder in node:22-alpine, read sizes and backpressure as in the relay — the least a relay built on Node, as kvpn's is, can cost.\n\n${hopTable}`,
      `Where the CPU goes (medians; all processes share the same 2 cores, so a stream's rate is bounded by the machine's CPU per GiB). client: this process (our port-forward client, HTTP/2 session, tunnel); cluster: test/cluster's API server and kubelet (one process); relay: the relay pod; forwarder: the bare forwarder pod; target: the bulk server pod; other: kernel work charged to no process and everything else.\n\n${cpuTable}`,
    ],
  };
}
