// `npm run bench -- stack`: the userspace stack against the kernel.
//
// Bulk throughput each direction over one connection, client in a
// namespace → TUN → stack → DirectDialer → server on loopback, compared in
// the same run with the same client and server over a veth pair between two
// namespaces (no stack); connections opened per second; RSS of this process
// per idle connection with 10,000 of them open. Client and server are
// separate processes (bench/_stack-peer.mjs), so this process runs only the
// stack and the dialer's sockets.
// Options: --size MiB (default 512), --idle N (default 10000), --seconds S (default 3).
import type { ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { openTun } from '../src/tun/device.js';
import { Stack } from '../src/tun/stack/index.js';
import { DirectDialer } from '../test/helpers/direct-dialer.js';
import { NetNs, vethPair } from '../test/helpers/netns.js';
import type { BenchReport } from './report.js';

const PEER = fileURLToPath(new URL('./_stack-peer.mjs', import.meta.url));
const MIB = 1 << 20;

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
}

/** after − before, for every number in a (nested) counters object. */
function counterDelta<T>(before: T, after: T): T {
  if (typeof after === 'number') return (after - (before as number)) as T;
  if (after === null || typeof after !== 'object') return after;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) out[k] = counterDelta((before as Record<string, unknown>)?.[k] ?? 0, v);
  return out as T;
}

function countersLine(stats: Stack['stats']): string {
  const drops = Object.fromEntries(Object.entries(stats.drops).filter(([, v]) => v > 0));
  return `retransmits ${stats.tcp.retransmits}, zero-window probes ${stats.tcp.zeroWindowProbes}, drops ${JSON.stringify(drops)}`;
}

function firstLine(child: ChildProcess): Promise<Record<string, number | string>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        child.stdout?.off('data', onData);
        resolve(JSON.parse(buf.slice(0, nl)));
      }
    };
    child.stdout?.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!buf.includes('\n')) reject(new Error(`peer exited ${code} without output`));
    });
  });
}

async function peer(ns: NetNs | null, ...args: string[]): Promise<Record<string, number | string>> {
  const child = ns
    ? ns.spawn(process.execPath, [PEER, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
    : (await import('node:child_process')).spawn(process.execPath, [PEER, ...args], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
  const out = await firstLine(child);
  if (out.error) throw new Error(`peer ${args[0]}: ${out.error}`);
  return out;
}

function startServer(ns: NetNs | null, host: string): Promise<{ child: ChildProcess; port: number }> {
  return (async () => {
    const { spawn } = await import('node:child_process');
    const args = [PEER, 'server', host];
    const child = ns
      ? ns.spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const out = await firstLine(child);
    return { child, port: Number(out.port) };
  })();
}

const rate = (bytes: number, ms: number) => bytes / MIB / (ms / 1000);

/** A real GC between RSS samples, whether or not the process was started with --expose-gc. */
function gc(): void {
  setFlagsFromString('--expose_gc');
  (runInNewContext('gc') as () => void)();
}

const REPEAT = 2;

async function best(once: () => Promise<Record<string, number | string>>): Promise<Record<string, number | string>> {
  let top: Record<string, number | string> | null = null;
  for (let i = 0; i < REPEAT; i++) {
    const r = await once();
    if (top === null || Number(r.ms) < Number(top.ms)) top = r;
  }
  return top as Record<string, number | string>;
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}

export async function run(args: string[]): Promise<BenchReport> {
  if (process.getuid?.() !== 0) throw new Error('bench stack needs root (namespaces, TUN)');
  const size = option(args, 'size', 512) * MIB;
  const idleCount = option(args, 'idle', 10_000);
  const seconds = option(args, 'seconds', 3);
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  try {
    // --- through the stack ---
    const ns = await NetNs.create(undefined, 'kbs');
    cleanup.push(() => ns.remove());
    const device = await openTun({ name: 'kvpnb0', mtu: 65520, netnsPath: ns.path });
    const dialer = new DirectDialer({ map: (d) => ({ address: '127.0.0.1', port: d.port }) });
    const stack = new Stack(device, dialer, { addresses: ['10.200.0.1'] });
    stack.start();
    cleanup.push(() => {
      stack.close();
      device.close();
    });
    // A deep TUN queue: 10,000 connections closing at once burst ~30,000 packets.
    await ns.ip('link', 'set', 'kvpnb0', 'mtu', '65520', 'txqueuelen', '10000', 'up');
    await ns.ip('addr', 'add', '10.201.0.1/32', 'dev', 'kvpnb0');
    await ns.ip('route', 'add', '10.200.0.0/16', 'dev', 'kvpnb0', 'src', '10.201.0.1');
    const server = await startServer(null, '127.0.0.1');
    cleanup.push(() => server.child.kill());

    // RSS per idle connection: this process holds the stack and the dialer's sockets.
    gc();
    const rssBefore = process.memoryUsage().rss;
    const heapBefore = process.memoryUsage().heapUsed;
    const { spawn } = await import('node:child_process');
    const idleChild = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns.name,
        'sh',
        '-c',
        `ulimit -n $(ulimit -Hn); exec ${process.execPath} ${PEER} idle 10.200.0.5 ${server.port} ${idleCount}`,
      ],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    cleanup.push(() => idleChild.kill());
    await firstLine(idleChild);
    await new Promise((r) => setTimeout(r, 500));
    gc();
    const rssAfter = process.memoryUsage().rss;
    const heapAfter = process.memoryUsage().heapUsed;
    const openConns = stack.connectionCount;
    idleChild.stdin?.end();
    await waitFor(() => stack.connectionCount === 0, 15_000);
    // Counters from here on are the measured phases'; the close of 10,000 idle
    // connections at once overflows the TUN queue and is reported on its own.
    const idleStats = structuredClone(stack.stats);
    // Best of REPEAT runs each: the machine is shared, the best run is the stack's own speed.
    const up = await best(() => peer(ns, 'upload', '10.200.0.5', String(server.port), String(size)));
    const down = await best(() => peer(ns, 'download', '10.200.0.5', String(server.port), String(size)));
    const conn = await peer(ns, 'connrate', '10.200.0.5', String(server.port), String(seconds * 1000), '32');

    const stats = counterDelta(idleStats, structuredClone(stack.stats));

    // --- baseline: the same programs over a veth pair, no stack ---
    const a = await NetNs.create(undefined, 'kba');
    const b = await NetNs.create(undefined, 'kbb');
    cleanup.push(
      () => a.remove(),
      () => b.remove(),
    );
    await vethPair(a, b, '10.77.0.1/24', '10.77.0.2/24', { mtu: 65520 });
    const vServer = await startServer(b, '10.77.0.2');
    cleanup.push(() => vServer.child.kill());
    const vUp = await best(() => peer(a, 'upload', '10.77.0.2', String(vServer.port), String(size)));
    const vDown = await best(() => peer(a, 'download', '10.77.0.2', String(vServer.port), String(size)));
    const vConn = await peer(a, 'connrate', '10.77.0.2', String(vServer.port), String(seconds * 1000), '32');

    const upRate = rate(Number(up.bytes), Number(up.ms));
    const downRate = rate(Number(down.bytes), Number(down.ms));
    const vUpRate = rate(Number(vUp.bytes), Number(vUp.ms));
    const vDownRate = rate(Number(vDown.bytes), Number(vDown.ms));
    const connRate = Number(conn.connections) / (Number(conn.ms) / 1000);
    const vConnRate = Number(vConn.connections) / (Number(vConn.ms) / 1000);
    const perConnKiB = (rssAfter - rssBefore) / 1024 / Math.max(1, openConns);
    const heapPerConnKiB = (heapAfter - heapBefore) / 1024 / Math.max(1, openConns);
    return {
      name: 'stack',
      table: {
        columns: ['measure', 'through stack', 'veth, no stack', 'stack / veth', 'target'],
        rows: [
          ['upload MiB/s (app → server)', upRate, vUpRate, upRate / vUpRate, '≥ 381 (400 MB/s)'],
          ['download MiB/s (server → app)', downRate, vDownRate, downRate / vDownRate, '≥ 381 (400 MB/s)'],
          ['connections/s (32 at a time)', connRate, vConnRate, connRate / vConnRate, '≥ 5,000'],
          [`RSS KiB per idle connection (${openConns})`, perConnKiB, '-', '-', '≤ 10'],
          [`JS heap KiB per idle connection`, heapPerConnKiB, '-', '-', '-'],
        ],
      },
      figures: {
        transferBytes: size,
        uploadMiBps: upRate,
        downloadMiBps: downRate,
        vethUploadMiBps: vUpRate,
        vethDownloadMiBps: vDownRate,
        connectionsPerSecond: connRate,
        vethConnectionsPerSecond: vConnRate,
        idleConnections: openConns,
        rssKiBPerIdleConnection: perConnKiB,
        heapKiBPerIdleConnection: heapPerConnKiB,
        stack: stats,
        stackDuringIdleOpenClose: idleStats,
      },
      notes: [
        'RSS per idle connection includes the DirectDialer socket (a net.Socket to the server) that each connection holds in this process.',
        `Bulk figures are the best of ${REPEAT} runs of ${size / MIB} MiB; client and server are separate Node processes (bench/_stack-peer.mjs) on the same 2 cores.`,
        `Load average during the run: ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} (other work on this machine skews every figure).`,
        `Stack counters during bulk and connections/s: ${countersLine(stats)}.`,
        `Stack counters while the ${openConns} idle connections opened and then closed all at once: ${countersLine(idleStats)} (the kernel's FINs and ACKs overflow the TUN queue toward the stack, so both sides retransmit; see docs/stack.md).`,
      ],
    };
  } finally {
    for (const f of cleanup.reverse()) await Promise.resolve(f()).catch(() => {});
  }
}
