// `npm run bench -- stack`: the userspace stack against the kernel.
//
// Bulk throughput each direction over one connection, client in a
// namespace → TUN → stack → DirectDialer → server on loopback, compared in
// the same run with the same client and server over a veth pair between two
// namespaces (no stack); connections opened per second; both over IPv4 and
// IPv6 on the same path (bench/_stack-family.ts), side by side; RSS of this
// process per idle connection with 10,000 of them open (over IPv4, or IPv6
// with --family 6). Client and server are separate processes
// (bench/_stack-peer.mjs), so this process runs only the stack and the
// dialer's sockets.
// Options: --size MiB (default 512), --idle N (default 10000), --seconds S (default 3),
// --family 4|6|both (default both).
import type { ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { openTun } from '../src/tun/device.js';
import { Stack } from '../src/tun/stack/index.js';
import { DirectDialer } from '../test/helpers/direct-dialer.js';
import { NetNs, vethPair } from '../test/helpers/netns.js';
import {
  addVethIpv6,
  counterDelta,
  FAMILIES,
  type Family,
  type FamilyResult,
  firstLine,
  loopbackOf,
  measure,
  PEER,
  parseFamilies,
  REPEAT,
  routeIntoTun,
  startServer,
  vethServerAddress,
} from './_stack-family.js';
import type { BenchReport } from './report.js';

const MIB = 1 << 20;
const TUN = 'kvpnb0';
const MTU = 65520;

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
}

function countersLine(stats: Stack['stats']): string {
  const drops = Object.fromEntries(Object.entries(stats.drops).filter(([, v]) => v > 0));
  return `retransmits ${stats.tcp.retransmits}, zero-window probes ${stats.tcp.zeroWindowProbes}, drops ${JSON.stringify(drops)}`;
}

/** A real GC between RSS samples, whether or not the process was started with --expose-gc. */
function gc(): void {
  setFlagsFromString('--expose_gc');
  (runInNewContext('gc') as () => void)();
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}

const MEASURES = [
  { key: 'uploadMiBps', label: 'upload MiB/s (app → server)', target: '≥ 381 (400 MB/s)' },
  { key: 'downloadMiBps', label: 'download MiB/s (server → app)', target: '≥ 381 (400 MB/s)' },
  { key: 'connectionsPerSecond', label: 'connections/s (32 at a time)', target: '≥ 5,000' },
] as const;

export async function run(args: string[]): Promise<BenchReport> {
  if (process.getuid?.() !== 0) throw new Error('bench stack needs root (namespaces, TUN)');
  const size = option(args, 'size', 512) * MIB;
  const idleCount = option(args, 'idle', 10_000);
  const seconds = option(args, 'seconds', 3);
  const families = parseFamilies(args);
  const idleFamily = families[0] as Family;
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  try {
    // --- through the stack ---
    const ns = await NetNs.create(undefined, 'kbs');
    cleanup.push(() => ns.remove());
    const device = await openTun({ name: TUN, mtu: MTU, netnsPath: ns.path });
    const dialer = new DirectDialer({ map: loopbackOf });
    const stack = new Stack(device, dialer, { addresses: families.map((f) => FAMILIES[f].stackAddress) });
    stack.start();
    cleanup.push(() => {
      stack.close();
      device.close();
    });
    // A deep TUN queue: 10,000 connections closing at once burst ~30,000 packets.
    await ns.ip('link', 'set', TUN, 'mtu', String(MTU), 'txqueuelen', '10000', 'up');
    const servers = new Map<Family, number>();
    for (const f of families) {
      await routeIntoTun(ns, TUN, FAMILIES[f]);
      const server = await startServer(null, FAMILIES[f].loopback);
      cleanup.push(() => server.child.kill());
      servers.set(f, server.port);
    }

    // RSS per idle connection: this process holds the stack and the dialer's sockets.
    gc();
    const rssBefore = process.memoryUsage().rss;
    const heapBefore = process.memoryUsage().heapUsed;
    const { spawn } = await import('node:child_process');
    // A server of its own: the idle connections' TIME-WAIT sockets (on the
    // client's and the dialer's side, for 60 s) must not take ports from the
    // measured family's connections/s runs, which dial the other server.
    const idleServer = await startServer(null, FAMILIES[idleFamily].loopback);
    cleanup.push(() => idleServer.child.kill());
    const idleTarget = `${FAMILIES[idleFamily].target} ${idleServer.port}`;
    const idleChild: ChildProcess = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns.name,
        'sh',
        '-c',
        `ulimit -n $(ulimit -Hn); exec ${process.execPath} ${PEER} idle ${idleTarget} ${idleCount}`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
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
    const viaStack = await measure(
      { ns, stack, server: (f) => ({ host: FAMILIES[f].target, port: servers.get(f) ?? 0 }) },
      families,
      size,
      seconds,
    );
    const stats = counterDelta(idleStats, structuredClone(stack.stats));

    // --- baseline: the same programs over a veth pair, no stack ---
    const a = await NetNs.create(undefined, 'kba');
    const b = await NetNs.create(undefined, 'kbb');
    cleanup.push(
      () => a.remove(),
      () => b.remove(),
    );
    const { ifA, ifB } = await vethPair(a, b, ...FAMILIES[4].veth, { mtu: MTU });
    if (families.includes(6)) await addVethIpv6(a, b, ifA, ifB);
    const vServers = new Map<Family, number>();
    for (const f of families) {
      const server = await startServer(b, vethServerAddress(FAMILIES[f]));
      cleanup.push(() => server.child.kill());
      vServers.set(f, server.port);
    }
    const viaVeth = await measure(
      { ns: a, server: (f) => ({ host: vethServerAddress(FAMILIES[f]), port: vServers.get(f) ?? 0 }) },
      families,
      size,
      seconds,
    );

    const both = families.length === 2;
    const at = (m: Map<Family, FamilyResult>, f: Family) => m.get(f) as FamilyResult;
    const rows: (string | number)[][] = [];
    for (const m of MEASURES) {
      for (const f of families) {
        const s = at(viaStack, f)[m.key];
        const v = at(viaVeth, f)[m.key];
        const v6ToV4 = both ? [f === 6 ? s / at(viaStack, 4)[m.key] : '-'] : [];
        rows.push([m.label, FAMILIES[f].label, s, v, s / v, ...v6ToV4, m.target]);
      }
    }
    const perConnKiB = (rssAfter - rssBefore) / 1024 / Math.max(1, openConns);
    const heapPerConnKiB = (heapAfter - heapBefore) / 1024 / Math.max(1, openConns);
    const dash = both ? ['-', '-', '-', '-'] : ['-', '-', '-'];
    const idleLabel = FAMILIES[idleFamily].label;
    rows.push(
      [`RSS KiB per idle connection (${openConns})`, idleLabel, perConnKiB, ...dash.slice(1), '≤ 10'],
      ['JS heap KiB per idle connection', idleLabel, heapPerConnKiB, ...dash],
    );

    const perFamily = (f: Family) => {
      const s = at(viaStack, f);
      const v = at(viaVeth, f);
      return {
        uploadMiBps: s.uploadMiBps,
        downloadMiBps: s.downloadMiBps,
        connectionsPerSecond: s.connectionsPerSecond,
        connectErrors: s.connectErrors,
        vethUploadMiBps: v.uploadMiBps,
        vethDownloadMiBps: v.downloadMiBps,
        vethConnectionsPerSecond: v.connectionsPerSecond,
        vethConnectErrors: v.connectErrors,
        stack: s.stack,
      };
    };
    const ratio = (key: (typeof MEASURES)[number]['key']) => at(viaStack, 6)[key] / at(viaStack, 4)[key];
    const errors = families
      .flatMap((f) => [
        [`${FAMILIES[f].label} through the stack`, at(viaStack, f).connectErrors] as const,
        [`${FAMILIES[f].label} over veth`, at(viaVeth, f).connectErrors] as const,
      ])
      .filter(([, n]) => n > 0);
    return {
      name: 'stack',
      table: {
        columns: [
          'measure',
          'family',
          'through stack',
          'veth, no stack',
          'stack / veth',
          ...(both ? ['IPv6 / IPv4 (stack)'] : []),
          'target',
        ],
        rows,
      },
      figures: {
        transferBytes: size,
        families: families.map((f) => FAMILIES[f].label),
        ...Object.fromEntries(families.map((f) => [`ipv${f}`, perFamily(f)])),
        ...(both
          ? {
              ipv6ToIpv4: {
                upload: ratio('uploadMiBps'),
                download: ratio('downloadMiBps'),
                connectionsPerSecond: ratio('connectionsPerSecond'),
              },
            }
          : {}),
        idleFamily: idleLabel,
        idleConnections: openConns,
        rssKiBPerIdleConnection: perConnKiB,
        heapKiBPerIdleConnection: heapPerConnKiB,
        stack: stats,
        stackDuringIdleOpenClose: idleStats,
      },
      notes: [
        'RSS per idle connection includes the DirectDialer socket (a net.Socket to the server) that each connection holds in this process.',
        `Bulk figures are the best of ${REPEAT} runs of ${size / MIB} MiB, connections/s the best of ${REPEAT} runs of ${seconds} s; client and server are separate Node processes (bench/_stack-peer.mjs) on the same 2 cores.`,
        ...(both
          ? [
              'IPv4 and IPv6 runs alternate (IPv4, IPv6, IPv4, IPv6 …) so a change in load hits both; IPv6 / IPv4 compares the figures through the stack (issue 20: within 10 %). An IPv6 segment carries 20 bytes less payload at the same MTU.',
            ]
          : []),
        `Load average during the run: ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')} (other work on this machine skews every figure).`,
        ...families.map((f) => {
          const s = at(viaStack, f).stack;
          return `Stack counters during ${FAMILIES[f].label} bulk and connections/s: ${s ? countersLine(s) : '-'}.`;
        }),
        ...errors.map(([where, n]) => `Failed connects during connections/s, ${where}: ${n}.`),
        `Stack counters while the ${openConns} idle connections (${idleLabel}) opened and then closed all at once: ${countersLine(idleStats)} (the kernel's FINs and ACKs overflow the TUN queue toward the stack, so both sides retransmit; see docs/stack.md).`,
      ],
    };
  } finally {
    for (const f of cleanup.reverse()) await Promise.resolve(f()).catch(() => {});
  }
}
