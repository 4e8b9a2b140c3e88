// Turns the results of `npm run bench -- compare` into its tables (one
// table per question, systems as columns). The same rows feed the terminal
// table, bench/results/compare.md (compare-real.md for a real-world run)
// and docs/performance.md; the targets verdict is in targets.ts, the chart
// in chart.ts. kubectl port-forward has columns only in runs that measured
// it, so older results render as they did.

import { formatNumber } from '../report.js';
import type { ArmResult } from './suite.js';

export const SYSTEMS = ['direct', 'kubectl-port-forward', 'port-forward', 'kvpn', 'sshuttle'] as const;
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

type Cell = string | number;
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

function cell(v: number | undefined, digits: number, err?: string): Cell {
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

function ratio(a: number | undefined, b: number | undefined): Cell {
  if (a === undefined || b === undefined || b === 0) return '—';
  const x = a / b;
  return x >= 100 ? `${Math.round(x)}×` : `${x.toFixed(2)}×`;
}

interface RowSpec {
  label: string;
  path: string;
  byName?: string;
  digits: number;
  /** Throughput-like: a ratio kvpn ÷ other is shown. */
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
  return [
    'measure',
    'direct',
    ...(kubectl ? ['kubectl port-forward'] : []),
    'raw port-forward',
    'kvpn (IP)',
    'kvpn (name)',
    'sshuttle',
    ...(kubectl ? ['kvpn ÷ kubectl port-forward'] : []),
    'kvpn ÷ port-forward',
    'kvpn ÷ sshuttle',
  ];
}

export function mainRows(res: Results): Cell[][] {
  const s = res.systems;
  const kubectl = measured(res, 'kubectl-port-forward');
  const holdCounts = (res.settings.holdCounts as number[] | undefined)?.map(String) ?? [];
  const rows: Cell[][] = [];
  for (const spec of [...MAIN_ROWS, ...holdRows(holdCounts), ...USAGE_ROWS]) {
    const v = (name: SystemName, path = spec.path) => {
      const x = figure(s[name], path);
      return x === undefined ? undefined : x / (spec.scale ?? 1);
    };
    const c = (name: SystemName) => cell(v(name), spec.digits, errorOf(s[name], spec.path));
    const kvpn = v('kvpn');
    const ratioTo = (other: SystemName | number | undefined): Cell =>
      spec.ratio ? ratio(kvpn, typeof other === 'string' ? v(other) : other) : '';
    // One row in mainColumns()' order; a cell not given is blank.
    const row = (
      label: string,
      cells: { direct?: Cell; kubectl?: Cell; pf?: Cell; kvpn?: Cell; name?: Cell; sshuttle?: Cell },
      ratios: { kubectl?: Cell; pf?: Cell; sshuttle?: Cell },
    ): Cell[] => [
      label,
      cells.direct ?? '',
      ...(kubectl ? [cells.kubectl ?? ''] : []),
      cells.pf ?? '',
      cells.kvpn ?? '',
      cells.name ?? '',
      cells.sshuttle ?? '',
      ...(kubectl ? [ratios.kubectl ?? ''] : []),
      ratios.pf ?? '',
      ratios.sshuttle ?? '',
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
          sshuttle: c('sshuttle'),
        },
        { kubectl: ratioTo('kubectl-port-forward'), pf: ratioTo('port-forward'), sshuttle: ratioTo('sshuttle') },
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
  ['sshuttle', 'sshuttle'],
];

function rttSystems(res: Results): [SystemName, string][] {
  return RTT_SYSTEMS.filter(([n]) => n !== 'kubectl-port-forward' || measured(res, n));
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

export const KVPN_COLUMNS = ['kvpn only', 'value'];

export function kvpnRows(res: Results): Cell[][] {
  const k = res.systems.kvpn;
  const f = (p: string, d: number) => cell(figure(k, p), d, errorOf(k, p));
  const rate = figure(k, 'dns.rate') ?? 0;
  return [
    ['`kvpn up` command, wall time (s)', cell((figure(k, 'up.upCommandMs') ?? Number.NaN) / 1000, 2)],
    ['  of which the CLI starting (`kvpn version`, s)', cell((figure(k, 'up.cliStartMs') ?? Number.NaN) / 1000, 2)],
    ['  daemon startupMs (status --json, s)', cell((figure(k, 'up.daemonStartupMs') ?? Number.NaN) / 1000, 2)],
    ['`kvpn up` to first HTTP 200 by name (s)', cell((figure(k, 'up.firstRequestMs') ?? Number.NaN) / 1000, 2)],
    [
      '`kvpn up` to first HTTP 200, +RTT (s)',
      cell((figure(res.rtt.systems.kvpn, 'up.firstRequestMs') ?? Number.NaN) / 1000, 2),
    ],
    ['DNS, flat out (queries/s)', f('dns.max.qps', 0)],
    ['DNS, flat out, lost', f('dns.max.lost', 0)],
    ['DNS queries dropped: forwards over the in-flight bound (whole run)', f('counters.dnsStats.droppedOverloaded', 0)],
    ['DNS queries received (whole run)', f('counters.dnsStats.queries', 0)],
    ['TCP connections still open in the daemon 3 s after the last test', f('counters.traffic.tcpOpen', 0)],
    ['TCP connections through the daemon (whole run)', f('counters.traffic.tcpTotal', 0)],
    [`DNS at ${formatNumber(rate)} q/s: p50 (ms)`, f('dns.atRate.p50Ms', 3)],
    [`DNS at ${formatNumber(rate)} q/s: p99 (ms)`, f('dns.atRate.p99Ms', 3)],
  ].map((r) => r.map((c) => (typeof c === 'number' && Number.isNaN(c) ? '—' : c)));
}

export function markdownTable(columns: string[], rows: Cell[][]): string {
  const fmt = (c: Cell) => (typeof c === 'number' ? formatNumber(c) : c);
  // Right-align the columns that hold figures.
  const figureLike = (c: Cell | undefined) =>
    typeof c === 'number' || /^(—|failed|kernel|[\d.,]+ ?(×|%))?$/.test(String(c ?? ''));
  const numeric = columns.map((_, i) => i > 0 && rows.every((r) => figureLike(r[i])));
  return [
    `| ${columns.join(' | ')} |`,
    `|${numeric.map((n) => (n ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(fmt).join(' | ')} |`),
  ].join('\n');
}

/** Where and how the run was made, in two lines. */
function provenance(res: Results): string[] {
  const m = res.machine as Record<string, string | number>;
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  const flags = `${res.world === 'real' ? ' --world real' : ''}${res.settings.quick ? ' --quick' : ''}`;
  return [
    `Generated by \`npm run bench -- compare${flags}\` on ${res.startedAt} (commit ${res.commit}), ${Math.round(res.durationSeconds)} s.`,
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}. Load average before: ${load(res.load.before)} (1/5/15 min); after: ${load(res.load.after)}.`,
    `Tools: ${Object.entries(res.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
  ];
}

/** The tables and the chart, headings at `level`; `chart` is the SVG's path from the document. */
export function renderTables(res: Results, chart: string, level = '##'): string {
  const verdict = (t: Target) => (t.met === null ? 'not measured' : t.met ? '**met**' : '**not met**');
  return [
    ...provenance(res),
    '',
    `${level} Targets`,
    '',
    markdownTable(
      ['target', 'verdict', 'figures'],
      res.targets.map((t) => [t.text, verdict(t), t.detail]),
    ),
    '',
    `${level} All systems, same topology, same run`,
    '',
    markdownTable(mainColumns(res), mainRows(res)),
    '',
    `![bulk throughput and connection latency per system](${chart})`,
    '',
    `${level} With ${res.rtt.rttMs} ms RTT added between the laptop and the API server`,
    '',
    res.rtt.skipped ? `Not measured: ${res.rtt.skipped}` : markdownTable(rttColumns(res), rttRows(res)),
    '',
    `${level} kvpn only`,
    '',
    markdownTable(KVPN_COLUMNS, kvpnRows(res)),
    '',
  ].join('\n');
}

export function renderMarkdown(res: Results): string {
  return [
    res.world === 'real'
      ? '# kvpn vs direct routing, kubectl port-forward, raw port-forward and sshuttle on a real Kubernetes'
      : '# kvpn vs direct routing, raw port-forward and sshuttle',
    '',
    renderTables(res, res.world === 'real' ? 'compare-real.svg' : 'compare.svg'),
    '## Notes',
    '',
    ...res.notes.map((n) => `- ${n}`),
    ...(res.cleanupErrors.length ? ['', `Cleanup errors: ${res.cleanupErrors.join('; ')}`] : []),
    '',
  ].join('\n');
}

export const DOC_BEGIN = '<!-- npm run bench -- compare: generated tables begin -->';
export const DOC_END = '<!-- npm run bench -- compare: generated tables end -->';

/** docs/performance.md with the text between the markers replaced by this run's tables (unchanged if it has no markers). */
export function updateDoc(doc: string, res: Results): string {
  const a = doc.indexOf(DOC_BEGIN);
  const b = doc.indexOf(DOC_END);
  if (a < 0 || b < a) return doc;
  return `${doc.slice(0, a + DOC_BEGIN.length)}\n\n${renderTables(res, '../bench/results/compare.svg', '###')}\n${doc.slice(b)}`;
}
