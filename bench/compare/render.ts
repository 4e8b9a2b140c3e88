// Turns the results of `npm run bench -- compare` into its tables (one
// table per question, systems as columns). The same rows feed the terminal
// table and, through markdown.ts, bench/results/compare.md (compare-real.md
// for a real-world run) and docs/performance.md; the targets verdict is in
// targets.ts, the chart in chart.ts. kubectl port-forward and kvpn-mux (kvpn over its mux carrier;
// `kvpn` is the HTTP/2 carrier) have columns only in runs that measured
// them, so older results render as they did.

import { formatNumber } from '../report.js';
import type { ArmResult } from './suite.js';

export const SYSTEMS = ['direct', 'kubectl-port-forward', 'port-forward', 'kvpn', 'kvpn-mux', 'sshuttle'] as const;
export type SystemName = (typeof SYSTEMS)[number];

export interface Results {
  name: 'compare';
  /** The test world measured in (absent in results from before there was a choice: the stand-in). */
  world?: 'stand-in' | 'real';
  startedAt: string;
  durationSeconds: number;
  commit: string;
  machine: Record<string, unknown>;
  load: { before: number[]; after: number[] };
  settings: Record<string, unknown>;
  versions: Record<string, string>;
  systems: Partial<Record<SystemName, ArmResult | { error: string }>>;
  rtt: {
    rttMs: number;
    systems: Partial<Record<SystemName, ArmResult | { error: string }>>;
    /** Why there is no RTT run (the real world cannot add latency). */
    skipped?: string;
  };
  /** sshuttle with --no-latency-control, bulk only (1 stream each way). */
  sshuttleTuned?: ArmResult | { error: string };
  targets: Target[];
  notes: string[];
  cleanupErrors: string[];
}

export interface Target {
  id: string;
  text: string;
  met: boolean | null;
  detail: string;
}

export type Cell = string | number;
// biome-ignore lint/suspicious/noExplicitAny: results are JSON
type Json = any;

/** A figure at `path` (e.g. "bulk.download-1.MBps") of one system, or undefined. */
export function figure(r: ArmResult | { error: string } | undefined, path: string): number | undefined {
  let v: Json = r;
  for (const k of path.split('.')) v = v?.[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function errorOf(r: ArmResult | { error: string } | undefined, path: string): string | undefined {
  let v: Json = r;
  if (v?.error && typeof v.error === 'string') return v.error;
  for (const k of path.split('.').slice(0, -1)) {
    v = v?.[k];
    if (v?.error) return v.error;
  }
  return undefined;
}

export function cell(v: number | undefined, digits: number, err?: string): Cell {
  if (v === undefined) return err ? 'failed' : '—';
  return Number(v.toFixed(digits));
}

/** Whether this run measured `name` (its settings say; old results without them: whether it has figures). */
export function measured(res: Results, name: SystemName): boolean {
  const systems = res.settings.systems as SystemName[] | undefined;
  return systems ? systems.includes(name) : name in res.systems;
}

/** What the "test-world daemon" rows measure in this run's world (BenchWorld.worldPids). */
function worldProcesses(res: Results): string {
  return res.world === 'real' ? 'control plane + kubelet + containerd' : 'test-world daemon (API server)';
}

/** a ÷ b as e.g. "0.85×". */
export function ratio(a: number | undefined, b: number | undefined): Cell {
  if (a === undefined || b === undefined || b === 0) return '—';
  const x = a / b;
  return x >= 100 ? `${Math.round(x)}×` : `${x.toFixed(2)}×`;
}

interface RowSpec {
  label: string;
  path: string;
  byName?: string;
  digits: number;
  /** Throughput-like: ratios kvpn ÷ other are shown (mux ÷ h2 is shown for every row). */
  ratio?: boolean;
  /** The figure is divided by this (ms → s). */
  scale?: number;
}

const MAIN_ROWS: RowSpec[] = [
  { label: 'download, 1 stream (MB/s)', path: 'bulk.download-1.MBps', digits: 1, ratio: true },
  { label: 'upload, 1 stream (MB/s)', path: 'bulk.upload-1.MBps', digits: 1, ratio: true },
  { label: 'download, 4 streams (MB/s)', path: 'bulk.download-4.MBps', digits: 1, ratio: true },
  { label: 'upload, 4 streams (MB/s)', path: 'bulk.upload-4.MBps', digits: 1, ratio: true },
  { label: 'connect + first byte, p50 (ms)', path: 'connect.p50Ms', byName: 'connectByName.p50Ms', digits: 3 },
  { label: 'connect + first byte, p99 (ms)', path: 'connect.p99Ms', byName: 'connectByName.p99Ms', digits: 3 },
  {
    label: 'sequential connections, total (s)',
    path: 'connect.totalMs',
    byName: 'connectByName.totalMs',
    digits: 2,
    scale: 1000,
  },
  { label: 'round trip on an open connection, p50 (ms)', path: 'pingpong.p50Ms', digits: 3 },
  { label: 'round trip on an open connection, p99 (ms)', path: 'pingpong.p99Ms', digits: 3 },
  { label: 'HTTP keep-alive (req/s)', path: 'http.rps', byName: 'httpByName.rps', digits: 0, ratio: true },
  { label: 'HTTP keep-alive, p99 (ms)', path: 'http.p99Ms', byName: 'httpByName.p99Ms', digits: 2 },
];

function holdRows(counts: string[]): RowSpec[] {
  return counts.flatMap((c) => [
    { label: `${formatNumber(Number(c))} held: alive after hold`, path: `hold.${c}.alive`, digits: 0 },
    { label: `${formatNumber(Number(c))} held: daemon RSS (MiB)`, path: `hold.${c}.usage.rssMaxMiB`, digits: 1 },
  ]);
}

/** Stands for worldProcesses() in a row label. */
const WORLD = '{world}';

const USAGE_ROWS: RowSpec[] = [
  { label: 'daemon CPU idle (% of a core)', path: 'idle.cpuPercent', digits: 1 },
  { label: 'daemon RSS idle (MiB)', path: 'idle.rssEndMiB', digits: 1 },
  { label: 'daemon CPU, 1-stream download (%)', path: 'bulk.download-1.usage.cpuPercent', digits: 0 },
  { label: 'daemon CPU, 1-stream upload (%)', path: 'bulk.upload-1.usage.cpuPercent', digits: 0 },
  { label: 'daemon CPU, HTTP keep-alive (%)', path: 'http.usage.cpuPercent', digits: 0 },
  { label: 'daemon RSS, 4-stream download (MiB)', path: 'bulk.download-4.usage.rssMaxMiB', digits: 1 },
  { label: 'daemon CPU idle after the run (%)', path: 'idleAfter.cpuPercent', digits: 1 },
  { label: 'daemon RSS idle after the run (MiB)', path: 'idleAfter.rssEndMiB', digits: 1 },
  {
    label: 'whole machine busy, 1-stream download (%, 200 = both cores)',
    path: 'bulk.download-1.machineBusyPercent',
    digits: 0,
  },
  { label: 'whole machine busy, 1-stream upload (%)', path: 'bulk.upload-1.machineBusyPercent', digits: 0 },
  { label: 'whole machine busy, HTTP keep-alive (%)', path: 'http.machineBusyPercent', digits: 0 },
  { label: `${WORLD} CPU, 1-stream download (%)`, path: 'bulk.download-1.apiServerCpuPercent', digits: 0 },
  { label: `${WORLD} CPU, HTTP keep-alive (%)`, path: 'http.apiServerCpuPercent', digits: 0 },
];

export function mainColumns(res: Results): string[] {
  const kubectl = measured(res, 'kubectl-port-forward');
  const mux = measured(res, 'kvpn-mux');
  return [
    'measure',
    'direct',
    ...(kubectl ? ['kubectl port-forward'] : []),
    'raw port-forward',
    'kvpn (IP)',
    'kvpn (name)',
    ...(mux ? ['kvpn mux (IP)'] : []),
    'sshuttle',
    ...(kubectl ? ['kvpn ÷ kubectl port-forward'] : []),
    ...(kubectl && mux ? ['kvpn mux ÷ kubectl port-forward'] : []),
    'kvpn ÷ port-forward',
    ...(mux ? ['kvpn mux ÷ port-forward'] : []),
    'kvpn ÷ sshuttle',
    ...(mux ? ['mux ÷ h2'] : []),
  ];
}

export function mainRows(res: Results): Cell[][] {
  const s = res.systems;
  const kubectl = measured(res, 'kubectl-port-forward');
  const mux = measured(res, 'kvpn-mux');
  const holdCounts = (res.settings.holdCounts as number[] | undefined)?.map(String) ?? [];
  const rows: Cell[][] = [];
  for (const spec of [...MAIN_ROWS, ...holdRows(holdCounts), ...USAGE_ROWS]) {
    const v = (name: SystemName, path = spec.path) => {
      const x = figure(s[name], path);
      return x === undefined ? undefined : x / (spec.scale ?? 1);
    };
    const c = (name: SystemName) => cell(v(name), spec.digits, errorOf(s[name], spec.path));
    const kvpn = v('kvpn');
    const ratioTo = (other: SystemName, of: SystemName = 'kvpn'): Cell => (spec.ratio ? ratio(v(of), v(other)) : '');
    // One row in mainColumns()' order; a cell not given is blank.
    const row = (
      label: string,
      cells: { direct?: Cell; kubectl?: Cell; pf?: Cell; kvpn?: Cell; name?: Cell; mux?: Cell; sshuttle?: Cell },
      ratios: { kubectl?: Cell; kubectlMux?: Cell; pf?: Cell; pfMux?: Cell; sshuttle?: Cell; muxH2?: Cell },
    ): Cell[] => [
      label,
      cells.direct ?? '',
      ...(kubectl ? [cells.kubectl ?? ''] : []),
      cells.pf ?? '',
      cells.kvpn ?? '',
      cells.name ?? '',
      ...(mux ? [cells.mux ?? ''] : []),
      cells.sshuttle ?? '',
      ...(kubectl ? [ratios.kubectl ?? ''] : []),
      ...(kubectl && mux ? [ratios.kubectlMux ?? ''] : []),
      ratios.pf ?? '',
      ...(mux ? [ratios.pfMux ?? ''] : []),
      ratios.sshuttle ?? '',
      ...(mux ? [ratios.muxH2 ?? ''] : []),
    ];
    rows.push(
      row(
        spec.label.replace(WORLD, worldProcesses(res)),
        {
          direct:
            spec.path.includes('usage') || spec.path.startsWith('idle') ? (s.direct ? 'kernel' : '—') : c('direct'),
          kubectl: c('kubectl-port-forward'),
          pf: c('port-forward'),
          kvpn: c('kvpn'),
          name: spec.byName ? cell(v('kvpn', spec.byName), spec.digits, errorOf(s.kvpn, spec.byName)) : '',
          mux: c('kvpn-mux'),
          sshuttle: c('sshuttle'),
        },
        {
          kubectl: ratioTo('kubectl-port-forward'),
          kubectlMux: ratioTo('kubectl-port-forward', 'kvpn-mux'),
          pf: ratioTo('port-forward'),
          pfMux: ratioTo('port-forward', 'kvpn-mux'),
          sshuttle: ratioTo('sshuttle'),
          // CPU, RSS and latency too: for those, below 1× means mux does better.
          muxH2: ratio(v('kvpn-mux'), kvpn),
        },
      ),
    );
    if (res.sshuttleTuned && spec.path.endsWith('-1.MBps')) {
      // sshuttle at its best for bulk, right under the row it qualifies.
      const tuned = figure(res.sshuttleTuned, spec.path);
      rows.push(
        row(
          '  same, sshuttle --no-latency-control',
          { sshuttle: cell(tuned, spec.digits, errorOf(res.sshuttleTuned, spec.path)) },
          { sshuttle: ratio(kvpn, tuned) },
        ),
      );
    }
  }
  return rows;
}

const RTT_SYSTEMS: [SystemName, string][] = [
  ['kubectl-port-forward', 'kubectl port-forward'],
  ['port-forward', 'raw port-forward'],
  ['kvpn', 'kvpn'],
  ['kvpn-mux', 'kvpn mux'],
  ['sshuttle', 'sshuttle'],
];

/** Systems that have a column only in runs that measured them. */
export const OPTIONAL_SYSTEMS: SystemName[] = ['kubectl-port-forward', 'kvpn-mux'];

function rttSystems(res: Results): [SystemName, string][] {
  return RTT_SYSTEMS.filter(([n]) => !OPTIONAL_SYSTEMS.includes(n) || measured(res, n));
}

export function rttColumns(res: Results): string[] {
  return ['measure', ...rttSystems(res).map(([, label]) => label)];
}

export function rttRows(res: Results): Cell[][] {
  const s = res.rtt.systems;
  const base = res.systems;
  const specs: RowSpec[] = [
    { label: 'download, 1 stream (MB/s)', path: 'bulk.download-1.MBps', digits: 1 },
    { label: 'upload, 1 stream (MB/s)', path: 'bulk.upload-1.MBps', digits: 1 },
    { label: 'connect + first byte, p50 (ms)', path: 'connect.p50Ms', digits: 2 },
    { label: 'round trip on an open connection, p50 (ms)', path: 'pingpong.p50Ms', digits: 2 },
  ];
  const names = rttSystems(res).map(([n]) => n);
  const rows: Cell[][] = [];
  for (const spec of specs) {
    rows.push([
      `${spec.label}, +${res.rtt.rttMs} ms RTT`,
      ...names.map((n) => cell(figure(s[n], spec.path), spec.digits, errorOf(s[n], spec.path))),
    ]);
    if (spec.path.startsWith('bulk')) {
      rows.push([
        '  kept of the 0 ms figure',
        ...names.map((n) => {
          const a = figure(s[n], spec.path);
          const b = figure(base[n], spec.path);
          return a !== undefined && b ? `${Math.round((a / b) * 100)} %` : '—';
        }),
      ]);
    }
  }
  return rows;
}

/** The kvpn arms in the "kvpn only" table: h2, and the mux where it was measured. */
function kvpnSystems(res: Results): SystemName[] {
  return measured(res, 'kvpn-mux') ? ['kvpn', 'kvpn-mux'] : ['kvpn'];
}

export function kvpnColumns(res: Results): string[] {
  return measured(res, 'kvpn-mux') ? ['kvpn only', 'h2', 'mux'] : ['kvpn only', 'value'];
}

export function kvpnRows(res: Results): Cell[][] {
  const names = kvpnSystems(res);
  const rate = figure(res.systems.kvpn, 'dns.rate') ?? figure(res.systems['kvpn-mux'], 'dns.rate') ?? 0;
  // One row: its label, then the figure of each kvpn arm.
  const row = (label: string, value: (k: ArmResult | { error: string } | undefined, name: SystemName) => Cell) => [
    label,
    ...names.map((n) => value(res.systems[n], n)),
  ];
  const f = (p: string, d: number) => (k: ArmResult | { error: string } | undefined) =>
    cell(figure(k, p), d, errorOf(k, p));
  // a − b of one arm's figures (p50s of different samples: a split, not an exact one).
  const difference = (a: string, b: string) => (k: ArmResult | { error: string } | undefined) => {
    const x = figure(k, a);
    const y = figure(k, b);
    return x === undefined || y === undefined ? '—' : Number((x - y).toFixed(3));
  };
  const seconds = (p: string) => (k: ArmResult | { error: string } | undefined) =>
    cell((figure(k, p) ?? Number.NaN) / 1000, 2);
  return [
    row('`kvpn up` command, wall time (s)', seconds('up.upCommandMs')),
    row('  of which the CLI starting (`kvpn version`, s)', seconds('up.cliStartMs')),
    row('  daemon startupMs (status --json, s)', seconds('up.daemonStartupMs')),
    row('`kvpn up` to first HTTP 200 by name (s)', seconds('up.firstRequestMs')),
    row('`kvpn up` to first HTTP 200, +RTT (s)', (_, n) => seconds('up.firstRequestMs')(res.rtt.systems[n])),
    row('DNS, flat out (queries/s)', f('dns.max.qps', 0)),
    row('DNS, flat out, lost', f('dns.max.lost', 0)),
    row(
      'DNS queries dropped: forwards over the in-flight bound (whole run)',
      f('counters.dnsStats.droppedOverloaded', 0),
    ),
    row('DNS queries received (whole run)', f('counters.dnsStats.queries', 0)),
    row('TCP connections still open in the daemon 3 s after the last test', f('counters.traffic.tcpOpen', 0)),
    row('TCP connections through the daemon (whole run)', f('counters.traffic.tcpTotal', 0)),
    // The connect path taken apart (compare/dial-times.ts, client.ts): the handshake is the
    // daemon's dial (the carrier's open round trip and the relay's dial) and the laptop's part;
    // the first byte is one round trip through the tunnel.
    row('connect + first byte, p50, as the client saw it (ms)', f('connect.p50Ms', 3)),
    row('  the handshake (SYN to established), p50 (ms)', f('connect.handshake.p50Ms', 3)),
    row("    the daemon's dial, p50: carrier open round trip + relay's dial (ms)", f('connectPath.p50Ms', 3)),
    row("      of which the relay's own dial, p50 (ms)", f('connectPath.relay.p50Ms', 3)),
    row('      of which the carrier (daemon → relay → daemon), p50 (ms)', f('connectPath.carrier.p50Ms', 3)),
    row(
      "    the rest: TUN, stack, kernel (handshake − daemon's dial, ms)",
      difference('connect.handshake.p50Ms', 'connectPath.p50Ms'),
    ),
    row('  the first byte (written to echoed), p50 (ms)', f('connect.firstByte.p50Ms', 3)),
    row('  for scale: a round trip on an open connection, p50 (ms)', f('pingpong.p50Ms', 3)),
    row('  for scale: the raw port-forward, the same, p50 (ms)', () =>
      f('pingpong.p50Ms', 3)(res.systems['port-forward']),
    ),
    row('  for scale: direct connect + first byte, p50 (ms)', () => f('connect.p50Ms', 3)(res.systems.direct)),
    row("  the daemon's dial, p99 (ms)", f('connectPath.p99Ms', 3)),
    row(`DNS at ${formatNumber(rate)} q/s: p50 (ms)`, f('dns.atRate.p50Ms', 3)),
    row(`DNS at ${formatNumber(rate)} q/s: p99 (ms)`, f('dns.atRate.p99Ms', 3)),
  ].map((r) => r.map((c) => (typeof c === 'number' && Number.isNaN(c) ? '—' : c)));
}
