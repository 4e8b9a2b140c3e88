// `npm run bench -- tunnel [--seconds N] [--rounds N] [--rtt MS] [--streams N]`
//
// On the test world (test/cluster), in one run:
//   1. one raw port-forward stream to a bulk server pod (our transport's ceiling)
//   2. one stream through the tunnel (relay deployed by our code) to the same server
//      → overhead = 1 - tunnel/raw, each way (target ≤ 20 %)
//   3. both again with RTT added between laptop and API server (target: tunnel ≥ 50 MB/s)
//   4. streams opened per second through the tunnel (and raw port-forwards per second)
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
import { type BenchReport, percentile } from './report.js';

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

/** Bytes per second read from `conn` over `seconds`, after a short warm-up. */
async function download(conn: Duplex, seconds: number): Promise<number> {
  let bytes = 0;
  let start = 0;
  const warmupMs = 300;
  const t0 = performance.now();
  conn.on('data', (c: Buffer) => {
    if (start) bytes += c.length;
    else if (performance.now() - t0 >= warmupMs) start = performance.now();
  });
  conn.on('error', () => {});
  conn.write('D');
  await new Promise((r) => setTimeout(r, warmupMs + seconds * 1000));
  const rate = bytes / ((performance.now() - start) / 1000);
  conn.destroy();
  return rate;
}

/** Bytes per second written to `conn` and acknowledged by the server (one byte per MiB). */
async function upload(conn: Duplex, seconds: number): Promise<number> {
  const chunk = Buffer.alloc(256 * 1024, 121);
  const warmupMs = 300;
  let acked = 0;
  let start = 0;
  let stop = false;
  const t0 = performance.now();
  conn.on('data', (c: Buffer) => {
    if (start) acked += c.length;
    else if (performance.now() - t0 >= warmupMs) start = performance.now();
  });
  conn.on('error', () => {});
  conn.write('U');
  const pump = (): void => {
    while (!stop && !conn.destroyed) if (!conn.write(chunk)) return void conn.once('drain', pump);
  };
  pump();
  await new Promise((r) => setTimeout(r, warmupMs + seconds * 1000));
  stop = true;
  const rate = (acked * 1024 * 1024) / ((performance.now() - start) / 1000);
  conn.destroy();
  return rate;
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

    const measure = async (label: string, client: KubeClient) => {
      const raw = () => openPortForward(client, { namespace: 'default', pod: 'bulk', port: BULK_PORT });
      const dialer = new TunnelDialer({ client, relay, sessions: 4 });
      await dialer.ready(20_000);
      const tunnel = () => dialer.connect(bulkIp, BULK_PORT);
      // Alternate raw and tunnel, `rounds` times each, and keep medians: the
      // machine is shared, so load shifts must hit both sides alike.
      const samples = {
        rawDown: [] as number[],
        tunnelDown: [] as number[],
        rawUp: [] as number[],
        tunnelUp: [] as number[],
      };
      for (let i = 0; i < rounds; i++) {
        samples.rawDown.push(await download(await raw(), seconds));
        samples.tunnelDown.push(await download(await tunnel(), seconds));
        samples.rawUp.push(await upload(await raw(), seconds));
        samples.tunnelUp.push(await upload(await tunnel(), seconds));
      }
      const out = {
        label,
        rawDown: percentile(samples.rawDown, 50),
        tunnelDown: percentile(samples.tunnelDown, 50),
        rawUp: percentile(samples.rawUp, 50),
        tunnelUp: percentile(samples.tunnelUp, 50),
        samples,
      };
      return { out, dialer, raw };
    };

    const base = await measure('0 ms added', staging);
    const streamsPerSecond = await openRate(() => base.dialer.connect(bulkIp, BULK_PORT), streams, 50);
    const rawPerSecond = await openRate(base.raw, Math.min(200, streams), 10);
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
    const rows = [base.out, delayed.out].flatMap((m) => [
      [`download, ${m.label}`, m.rawDown / MB, m.tunnelDown / MB, overhead(m.rawDown, m.tunnelDown)],
      [`upload, ${m.label}`, m.rawUp / MB, m.tunnelUp / MB, overhead(m.rawUp, m.tunnelUp)],
    ]);
    return {
      name: 'tunnel',
      table: { columns: ['one stream', 'raw port-forward MB/s', 'tunnel MB/s', 'overhead %'], rows },
      figures: {
        seconds,
        rounds,
        rttMs: rtt,
        samples_MBps: Object.fromEntries(
          Object.entries({
            ...base.out.samples,
            ...Object.fromEntries(Object.entries(delayed.out.samples).map(([k, v]) => [`rtt_${k}`, v])),
          }).map(([k, v]) => [k, v.map((x) => Math.round(x / MB))]),
        ),
        raw_download_MBps: base.out.rawDown / MB,
        tunnel_download_MBps: base.out.tunnelDown / MB,
        overhead_download_pct: overhead(base.out.rawDown, base.out.tunnelDown),
        raw_upload_MBps: base.out.rawUp / MB,
        tunnel_upload_MBps: base.out.tunnelUp / MB,
        overhead_upload_pct: overhead(base.out.rawUp, base.out.tunnelUp),
        rtt_raw_download_MBps: delayed.out.rawDown / MB,
        rtt_tunnel_download_MBps: delayed.out.tunnelDown / MB,
        rtt_raw_upload_MBps: delayed.out.rawUp / MB,
        rtt_tunnel_upload_MBps: delayed.out.tunnelUp / MB,
        tunnel_streams_per_s: streamsPerSecond,
        raw_port_forwards_per_s: rawPerSecond,
      },
      notes: [
        `Streams opened per second through the tunnel (50 at a time, open + FIN + close): ${Math.round(streamsPerSecond)}; raw port-forward WebSockets per second (10 at a time): ${Math.round(rawPerSecond)}.`,
        `Medians of ${rounds} alternating ${seconds} s runs per cell (the machine is shared with other work).`,
        `Targets: overhead ≤ 20 % vs one raw port-forward stream; with ${rtt} ms RTT, one tunnel stream ≥ 50 MB/s.`,
      ],
    };
  } finally {
    for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => {});
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
