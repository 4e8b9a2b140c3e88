// `npm run bench -- tunnel [--seconds N] [--rounds N] [--rtt MS] [--streams N]`
//
// On the test world (test/cluster), in one run:
//   1. streams opened per second through the tunnel (and raw port-forwards per second)
//   2. one raw port-forward stream to a bulk server pod (our transport's ceiling)
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
import { deployRelay } from '../src/kube/relay.js';
import { TunnelDialer } from '../src/proxy/tunnel-dialer.js';
import { DelayProxy } from '../test/cluster/faults/delay-proxy.js';
import { startCluster } from '../test/cluster/index.js';
import { laptopApi } from '../test/session/helpers/laptop-api.js';
import { type CpuSnapshot, cpuBetween, takeCpuSnapshot } from './_cpu-accounting.js';
import { type BenchReport, formatTable, percentile } from './report.js';

const BULK_PORT = 9100;
// The bulk server: first byte D = download forever; U = upload, one byte back per MiB
// received (port-forward has no half-close, so no answer at EOF); C = close at once.
const BULK_SERVER = `const net=require('net');const buf=Buffer.alloc(1<<20,120);
net.createServer({allowHalfOpen:true},s=>{s.on('error',()=>{});s.once('data',d=>{const m=d[0];
if(m===68){const pump=()=>{while(!s.destroyed&&s.write(buf));};s.on('drain',pump);pump();}
else if(m===85){let n=d.length-1;s.on('data',x=>{n+=x.length;let k=0;while(n>=1048576){n-=1048576;k++}if(k)s.write(Buffer.alloc(k,1))});}
else s.end();});}).listen(${BULK_PORT});`;

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

/** Roles for the CPU accounting: this process, test/cluster's daemon (API server + kubelet), the relay, the bulk server. */
function classify(pid: number, cmdline: string): string | undefined {
  if (pid === process.pid) return 'client';
  if (cmdline.includes('test/cluster/daemon')) return 'cluster';
  if (cmdline.includes('relay.cjs')) return 'relay';
  if (cmdline.includes(`listen(${BULK_PORT})`)) return 'target';
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
const CPU_ROLES = ['client', 'cluster', 'relay', 'target', 'other', 'machine'];
const fixed = (n: number | undefined): string => (n ?? 0).toFixed(2);
/** Medians of one cell: bytes per second and CPU seconds per GiB by role. */
type Cell = { rate: number; cpu: Record<string, number> };

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
    await staging.request('POST', '/api/v1/namespaces/default/pods', {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'bulk', namespace: 'default' },
        spec: {
          terminationGracePeriodSeconds: 0,
          containers: [
            {
              name: 'bulk',
              image: 'node:22-alpine',
              command: ['node', '-e', BULK_SERVER],
              readinessProbe: { tcpSocket: { port: BULK_PORT }, periodSeconds: 1 },
            },
          ],
        },
      },
    });
    const pod = await cluster.waitForPod(
      'bulk',
      (p) =>
        p?.status?.conditions?.some(
          (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
        ) ?? false,
    );
    const bulkIp = pod?.status?.podIP as string;
    const relay = await deployRelay(staging, { sessionId: 'bench', owner: 'bench' });
    teardowns.push(() => relay.delete());

    const rawOpener = (client: KubeClient) => () =>
      openPortForward(client, { namespace: 'default', pod: 'bulk', port: BULK_PORT });
    const measure = async (label: string, client: KubeClient) => {
      const raw = rawOpener(client);
      const dialer = new TunnelDialer({ client, relay, sessions: 4 });
      await dialer.ready(20_000);
      const tunnel = () => dialer.connect(bulkIp, BULK_PORT);
      // Alternate raw and tunnel, `rounds` times each, and keep medians: the
      // machine is shared, so load shifts must hit both sides alike.
      const samples = {
        rawDown: [] as Sample[],
        tunnelDown: [] as Sample[],
        rawUp: [] as Sample[],
        tunnelUp: [] as Sample[],
      };
      for (let i = 0; i < rounds; i++) {
        samples.rawDown.push(await download(await raw(), seconds));
        samples.tunnelDown.push(await download(await tunnel(), seconds));
        samples.rawUp.push(await upload(await raw(), seconds));
        samples.tunnelUp.push(await upload(await tunnel(), seconds));
      }
      const med = (xs: number[]): number => percentile(xs, 50);
      const cell = (xs: Sample[]): Cell => ({
        rate: med(xs.map((x) => x.rate)),
        cpu: Object.fromEntries(CPU_ROLES.map((role) => [role, med(xs.map((x) => x.cpu[role] ?? 0))])),
      });
      const out = {
        label,
        rawDown: cell(samples.rawDown),
        tunnelDown: cell(samples.tunnelDown),
        rawUp: cell(samples.rawUp),
        tunnelUp: cell(samples.tunnelUp),
        samples: Object.fromEntries(
          Object.entries(samples).map(([k, v]) => [k, v.map((x) => Math.round(x.rate / MB))]),
        ),
      };
      return { out, dialer };
    };

    // Opening rates first, the tunnel's on a dialer of its own: after the
    // bulk runs, the reset streams' bytes still in flight (up to a window
    // each) drain for a while and the rate measured that drain.
    const opener = new TunnelDialer({ client: staging, relay, sessions: 4 });
    await opener.ready(20_000);
    const streamsPerSecond = await openRate(() => opener.connect(bulkIp, BULK_PORT), streams, 50);
    opener.close();
    const rawPerSecond = await openRate(rawOpener(staging), Math.min(200, streams), 10);
    const base = await measure('0 ms added', staging);
    base.dialer.close();
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
    const delayed = await measure(`${rtt} ms RTT added`, far);
    delayed.dialer.close();

    const overhead = (raw: number, tunnel: number): number => Math.round((1 - tunnel / raw) * 1000) / 10;
    const row = (what: string, raw: Cell, tunnel: Cell): (string | number)[] => [
      what,
      raw.rate / MB,
      tunnel.rate / MB,
      overhead(raw.rate, tunnel.rate),
      `${fixed(raw.cpu.machine)} / ${fixed(tunnel.cpu.machine)}`,
    ];
    const rows = [base.out, delayed.out].flatMap((m) => [
      row(`download, ${m.label}`, m.rawDown, m.tunnelDown),
      row(`upload, ${m.label}`, m.rawUp, m.tunnelUp),
    ]);
    // Where the CPU went, 0 ms added: per process role, raw vs tunnel, each way.
    const cpuRows = CPU_ROLES.map((role) => [
      role,
      fixed(base.out.rawDown.cpu[role]),
      fixed(base.out.tunnelDown.cpu[role]),
      fixed(base.out.rawUp.cpu[role]),
      fixed(base.out.tunnelUp.cpu[role]),
    ]);
    const cpuTable = formatTable(
      ['CPU s/GiB, 0 ms added', 'download raw', 'download tunnel', 'upload raw', 'upload tunnel'],
      cpuRows,
    );
    const figures = (prefix: string, m: typeof base.out) => ({
      [`${prefix}raw_download_MBps`]: m.rawDown.rate / MB,
      [`${prefix}tunnel_download_MBps`]: m.tunnelDown.rate / MB,
      [`${prefix}overhead_download_pct`]: overhead(m.rawDown.rate, m.tunnelDown.rate),
      [`${prefix}raw_upload_MBps`]: m.rawUp.rate / MB,
      [`${prefix}tunnel_upload_MBps`]: m.tunnelUp.rate / MB,
      [`${prefix}overhead_upload_pct`]: overhead(m.rawUp.rate, m.tunnelUp.rate),
      [`${prefix}cpu_s_per_GiB`]: {
        rawDown: m.rawDown.cpu,
        tunnelDown: m.tunnelDown.cpu,
        rawUp: m.rawUp.cpu,
        tunnelUp: m.tunnelUp.cpu,
      },
      [`${prefix}samples_MBps`]: m.samples,
    });
    return {
      name: 'tunnel',
      table: {
        columns: ['one stream', 'raw port-forward MB/s', 'tunnel MB/s', 'overhead %', 'machine CPU s/GiB raw / tunnel'],
        rows,
      },
      figures: {
        seconds,
        rounds,
        rttMs: rtt,
        ...figures('', base.out),
        ...figures('rtt_', delayed.out),
        tunnel_streams_per_s: streamsPerSecond,
        raw_port_forwards_per_s: rawPerSecond,
      },
      notes: [
        `Streams opened per second through the tunnel (50 at a time, open + FIN + close): ${Math.round(streamsPerSecond)}; raw port-forward WebSockets per second (10 at a time): ${Math.round(rawPerSecond)}.`,
        `Medians of ${rounds} alternating ${seconds} s runs per cell (the machine is shared with other work; CPU seconds per GiB are steadier than rates under load).`,
        `Targets: overhead ≤ 20 % vs one raw port-forward stream; with ${rtt} ms RTT, one tunnel stream ≥ 50 MB/s.`,
        `Where the CPU goes (medians; all processes share the same 2 cores, so a stream's rate is bounded by the machine's CPU per GiB). client: this process (our port-forward client, HTTP/2 session, tunnel); cluster: test/cluster's API server and kubelet (one process); relay: the relay pod; target: the bulk server pod; other: kernel work charged to no process and everything else.\n\n${cpuTable}`,
      ],
    };
  } finally {
    for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => {});
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
