// `npm run bench -- ui [--count N] [--hold-ms MS] [--renders N] [--rounds N]
//                      [--seconds N] [--churn N] [--out FILE] [--json]`
//
// The inspection page (issue 18) under load, on the stand-in test world,
// with kvpn as `npm run bench -- compare` runs it (bench/compare: the world,
// `kvpn up` from dist/, the hold client, iperf3, /proc sampling):
//   1. The page's cost in memory and time with many flows: Chromium (in the
//      laptop namespace) keeps a tab on the Connections view while N echo
//      connections (10,000) are opened and held through kvpn; while they are
//      held, fresh tabs time the view's first draw and curl times
//      /api/connections (default 500 rows, and ?limit=2000); the daemon's
//      peak RSS is sampled throughout. Once they have closed (N flows in
//      the ring) and the memory janitor has run, the same again, with the
//      daemon's RSS.
//   2. The page's cost to the tunnel: one iperf3 stream each way, `--rounds`
//      rounds of four arms in rotating order — no page; a tab on
//      Connections; a blank tab (the browser's cost without the page's);
//      curl polling /api/connections 4 times a second with no browser (the
//      daemon's side alone) — while a loop opens `--churn`
//      HTTP connections a second in every arm, so the tab keeps refetching.
// Targets: the view drawn in < 1 s with 10,000 flows recorded; daemon RSS
// ≤ 300 MB with 10,000 held and after; bulk not measurably lower with the
// page (a sign test: lower in every round). Everything started here is
// stopped at the end, on failure and on Ctrl-C.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Render, UiBrowser, type Watcher } from './_ui-page.js';
import { buildForBench } from './compare/build.js';
import { Cleanup } from './compare/cleanup.js';
import { type KvpnArm, startKvpn } from './compare/kvpn.js';
import { type Usage, UsageMeter } from './compare/proc.js';
import { measureHold, measureIdle, settingsFor } from './compare/suite.js';
import { failed, iperf, probeEcho } from './compare/tools.js';
import { BenchWorld } from './compare/world.js';
import { type BenchReport, machineInfo, percentile } from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RENDER_TARGET_MS = 1000;
const RSS_TARGET_MB = 300;
/** The memory janitor collects at most once per 5 s once most connections have closed (docs/design.md §12). */
const JANITOR_SETTLE_MS = 7000;
const CLOSE_TIMEOUT_MS = 30_000;
const QUIET_BETWEEN_RUNS_MS = 1000;
const JSON_REPEATS = 10;
/** New tabs timed while the connections are held (they must fit in the hold). */
const HELD_RENDERS = 3;
const MB_PER_MIB = 2 ** 20 / 1e6;

interface Options {
  count: number;
  holdMs: number;
  renders: number;
  rounds: number;
  seconds: number;
  churnPerSecond: number;
  out: string | undefined;
}

function parse(args: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const num = (name: string, fallback: number): number => Number(value(name) ?? fallback);
  return {
    count: num('count', 10_000),
    holdMs: num('hold-ms', 12_000),
    renders: num('renders', 5),
    rounds: num('rounds', 5),
    seconds: num('seconds', 3),
    churnPerSecond: num('churn', 4),
    out: value('out'),
  };
}

const T0 = performance.now();
function log(msg: string): void {
  process.stderr.write(`[ui ${((performance.now() - T0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);
}

interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

function spread(xs: number[]): Spread {
  return { median: percentile(xs, 50), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** HEAD, and whether src/ differs from it (the daemon is built from the working tree). */
function revision(): string {
  const git = (...a: string[]) => execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim();
  try {
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src') ? ' + uncommitted src/' : ''}`;
  } catch {
    return 'unknown';
  }
}

/** The session's flow counts, as the page's JSON gives them. */
interface FlowCounts {
  total: number;
  open: number;
  dropped: number;
  untracked: number;
}

interface JsonTiming {
  ms: Spread;
  bytes: number;
  rows: number;
}

/** What the page and its JSON take at one moment (flows held, or ended). */
interface PageTimes {
  flows: FlowCounts;
  renders: Render[];
  renderMs: Spread;
  json: JsonTiming;
  json2000: JsonTiming;
}

/** The pieces a phase needs: the world, the session, the browser. */
interface Rig {
  world: BenchWorld;
  kvpn: KvpnArm;
  ui: UiBrowser;
}

/** curl in the laptop namespace with the page's cookie. */
function curl(rig: Rig, args: string[]): Promise<string> {
  return rig.world.laptopRun('curl', ['-sS', '-m', '30', '-b', rig.ui.cookie, ...args]);
}

/** The JSON at `path` of the page's server. */
async function getJson<T>(rig: Rig, path: string): Promise<T> {
  return JSON.parse(await curl(rig, [`${rig.ui.origin}${path}`])) as T;
}

/** `path` fetched `n` times over one connection: each response's time (request to last byte) and size. */
async function curlTimes(rig: Rig, path: string, n: number): Promise<{ ms: number[]; bytes: number }> {
  const url = `${rig.ui.origin}${path}`;
  const args = ['-w', '%{http_code} %{time_total} %{size_download}\\n'];
  for (let i = 0; i < n; i++) args.push('-o', '/dev/null', url);
  const ms: number[] = [];
  let bytes = 0;
  for (const line of (await curl(rig, args)).trim().split('\n')) {
    const [code, seconds, size] = line.split(' ');
    if (code !== '200') throw new Error(`GET ${path}: HTTP ${code}`);
    ms.push(Number(seconds) * 1000);
    bytes = Number(size);
  }
  return { ms, bytes };
}

async function flowCounts(rig: Rig): Promise<FlowCounts> {
  const { total, open, dropped, untracked } = await getJson<FlowCounts>(rig, '/api/connections?limit=1');
  return { total, open, dropped, untracked };
}

async function jsonTiming(rig: Rig, query: string): Promise<JsonTiming> {
  const path = `/api/connections${query}`;
  const r = await curlTimes(rig, path, JSON_REPEATS);
  return { ms: spread(r.ms), bytes: r.bytes, rows: (await getJson<{ flows: unknown[] }>(rig, path)).flows.length };
}

async function pageTimes(rig: Rig, renders: number): Promise<PageTimes> {
  const flows = await flowCounts(rig);
  const out: Render[] = [];
  for (let i = 0; i < renders; i++) out.push(await rig.ui.renderConnections());
  const json = await jsonTiming(rig, '');
  const json2000 = await jsonTiming(rig, '?limit=2000');
  return { flows, renders: out, renderMs: spread(out.map((r) => r.ms)), json, json2000 };
}

async function waitAllClosed(rig: Rig): Promise<FlowCounts> {
  const deadline = performance.now() + CLOSE_TIMEOUT_MS;
  for (;;) {
    const counts = await flowCounts(rig);
    if (counts.open === 0 || performance.now() > deadline) return counts;
    await sleep(500);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Phase 1: N connections held with the Connections tab open, then closed. */
async function measureMemory(rig: Rig, o: Options) {
  const s = settingsFor(false, { holdMs: o.holdMs });
  const watcher = await rig.ui.watch();
  let whileHeld: (PageTimes & { withinHoldMs: number; finishedInHold: boolean }) | { error: string } | undefined;
  const hold = await measureHold(rig.world, rig.kvpn, rig.kvpn.targets.echoTcp, o.count, s, async () => {
    const t = performance.now();
    try {
      log(`${o.count} connections held: timing the page`);
      const times = await pageTimes(rig, Math.min(HELD_RENDERS, o.renders));
      const withinHoldMs = performance.now() - t;
      whileHeld = { ...times, withinHoldMs, finishedInHold: withinHoldMs < o.holdMs };
    } catch (err) {
      whileHeld = { error: (err as Error).message };
    }
  });
  const heldFetches = watcher.fetches();
  log(
    `hold: ${failed(hold) ? hold.error : `alive ${hold.alive}, daemon RSS peak ${hold.usage?.rssMaxMiB.toFixed(0)} MiB`}`,
  );
  const closed = await waitAllClosed(rig);
  await sleep(JANITOR_SETTLE_MS);
  const meter = new UsageMeter(() => rig.kvpn.pids()).start();
  const rssSettledMiB = meter.rssNowMiB();
  const afterClose = await pageTimes(rig, o.renders);
  const usageAfter: Usage = meter.stop();
  log(
    `after close: ${afterClose.flows.total} flows recorded, render p50 ${afterClose.renderMs.median} ms, RSS ${rssSettledMiB.toFixed(0)} → max ${usageAfter.rssMaxMiB.toFixed(0)} MiB`,
  );
  await watcher.close();
  return {
    hold,
    watcherFetchesDuringHold: heldFetches,
    whileHeld,
    closed,
    afterClose: { ...afterClose, rssSettledMiB, usage: usageAfter },
  };
}

/**
 * `curl -s -o /dev/null ARGS` in a loop in the laptop namespace, `perSecond`
 * times a second at most; the returned function stops it.
 */
function curlLoop(rig: Rig, cleanup: Cleanup, label: string, args: string, perSecond: number): () => Promise<void> {
  if (perSecond <= 0) return async () => {};
  const script = `while :; do curl -s -o /dev/null -m 2 ${args}; sleep ${(1 / perSecond).toFixed(3)}; done`;
  return cleanup.process(label, rig.world.laptopSpawn('sh', ['-c', script], { stdio: 'ignore' }));
}

/**
 * The bulk runs' arms: nothing watching; a Chromium tab on Connections
 * (refetching on every change, at most twice a second); a tab on
 * about:blank (what an open tab costs whatever it shows); curl fetching
 * /api/connections 4 times a second with no browser (the daemon's side of
 * the page alone).
 */
const ARMS = ['no page', 'page', 'blank tab', 'api poll'] as const;
type Arm = (typeof ARMS)[number];
type OtherArm = Exclude<Arm, 'no page'>;
const OTHER_ARMS = ARMS.filter((a): a is OtherArm => a !== 'no page');
const API_POLL_PER_S = 4;
type Direction = 'download' | 'upload';

/** What an arm keeps running during its runs: `fetches` counts the tab's fetches of /api/connections. */
async function startArm(rig: Rig, cleanup: Cleanup, arm: Arm): Promise<{ watcher?: Watcher; stop(): Promise<void> }> {
  if (arm === 'page') {
    const watcher = await rig.ui.watch();
    return { watcher, stop: () => watcher.close() };
  }
  if (arm === 'blank tab') {
    const close = await rig.ui.blankTab();
    return { stop: close };
  }
  if (arm === 'api poll') {
    const args = `-b ${rig.ui.cookie} ${rig.ui.origin}/api/connections`;
    return { stop: curlLoop(rig, cleanup, 'API poll', args, API_POLL_PER_S) };
  }
  return { stop: async () => {} };
}

interface BulkRun {
  round: number;
  arm: Arm;
  direction: Direction;
  MBps?: number;
  daemonCpuPercent?: number;
  /** The daemon's CPU time per GB moved (its whole window: iperf3's set-up included). */
  daemonCpuSecondsPerGB?: number;
  /** Chromium's processes (all tabs), % of one core; none when no tab is open. */
  browserCpuPercent?: number;
  /** Of which its tabs' renderers (scripts, DOM, layout) and its GPU process (compositing, raster). */
  rendererCpuPercent?: number;
  gpuCpuPercent?: number;
  machineBusyPercent?: number;
  /** Fetches of /api/connections by the open tab during the run. */
  pageFetches?: number;
  error?: string;
}

/** One iperf3 run through kvpn, with the daemon's and the browser's CPU. */
async function bulkRun(rig: Rig, o: Options, round: number, arm: Arm, direction: Direction, watcher?: Watcher) {
  const before = watcher?.fetches() ?? 0;
  const browser = new UsageMeter(() => rig.ui.pids()).start();
  const renderer = new UsageMeter(() => rig.ui.pids('renderer')).start();
  const gpu = new UsageMeter(() => rig.ui.pids('gpu-process')).start();
  const opts = { seconds: o.seconds, streams: 1, download: direction === 'download' };
  const r = await iperf(rig.world, rig.kvpn.targets.iperf, opts, () => rig.kvpn.pids());
  const browserCpu = {
    browserCpuPercent: browser.stop().cpuPercent,
    rendererCpuPercent: renderer.stop().cpuPercent,
    gpuCpuPercent: gpu.stop().cpuPercent,
  };
  if (failed(r)) return { round, arm, direction, error: r.error };
  const run: BulkRun = {
    round,
    arm,
    direction,
    MBps: r.MBps,
    daemonCpuPercent: r.usage?.cpuPercent,
    daemonCpuSecondsPerGB: r.usage ? r.usage.cpuSeconds / ((r.MBps * o.seconds) / 1000) : undefined,
    ...browserCpu,
    machineBusyPercent: r.machineBusyPercent,
    ...(watcher ? { pageFetches: watcher.fetches() - before } : {}),
  };
  return run;
}

/** Phase 2: one stream each way per arm, the arms' order rotating each round. */
async function measureBulk(rig: Rig, cleanup: Cleanup, o: Options): Promise<BulkRun[]> {
  const runs: BulkRun[] = [];
  const echo = rig.kvpn.targets.echoHttp;
  const stopChurn = curlLoop(rig, cleanup, 'connection churn', `http://${echo.host}:${echo.port}/`, o.churnPerSecond);
  try {
    for (let round = 0; round < o.rounds; round++) {
      const arms = ARMS.map((_, i) => ARMS[(i + round) % ARMS.length] as Arm);
      for (const arm of arms) {
        const running = await startArm(rig, cleanup, arm);
        try {
          for (const direction of ['download', 'upload'] as const) {
            await sleep(QUIET_BETWEEN_RUNS_MS);
            const run = await bulkRun(rig, o, round, arm, direction, running.watcher);
            runs.push(run);
            log(`round ${round + 1} ${arm} ${direction}: ${run.error ?? `${run.MBps?.toFixed(0)} MB/s`}`);
          }
        } finally {
          await running.stop();
        }
      }
    }
  } finally {
    await stopChurn();
  }
  return runs;
}

interface ArmSummary {
  MBps: Spread;
  daemonCpuPercent: Spread;
  daemonCpuSecondsPerGB: Spread;
  browserCpuPercent: Spread;
  rendererCpuPercent: Spread;
  gpuCpuPercent: Spread;
  machineBusyPercent: Spread;
  pageFetchesPerRun?: Spread;
}

/** One arm against no page, round by round (the two runs of a round are a few seconds apart). */
interface Paired {
  /** arm ÷ no page, per round. */
  ratio: Spread;
  /** Rounds in which the arm's run was the slower one, of `pairs`. */
  slowerIn: number;
  pairs: number;
}

interface DirectionSummary {
  arms: Record<Arm, ArmSummary>;
  vsNoPage: Record<OtherArm, Paired>;
}

function summarizeBulk(runs: BulkRun[]): Record<Direction, DirectionSummary> {
  const one = (direction: Direction): DirectionSummary => {
    const ok = runs.filter((r) => r.direction === direction && r.MBps !== undefined);
    const arm = (a: Arm): ArmSummary => {
      const mine = ok.filter((r) => r.arm === a);
      const pick = (f: (r: BulkRun) => number | undefined) => spread(mine.map(f).filter((x) => x !== undefined));
      return {
        MBps: pick((r) => r.MBps),
        daemonCpuPercent: pick((r) => r.daemonCpuPercent),
        daemonCpuSecondsPerGB: pick((r) => r.daemonCpuSecondsPerGB),
        browserCpuPercent: pick((r) => r.browserCpuPercent),
        rendererCpuPercent: pick((r) => r.rendererCpuPercent),
        gpuCpuPercent: pick((r) => r.gpuCpuPercent),
        machineBusyPercent: pick((r) => r.machineBusyPercent),
        ...(a === 'page' ? { pageFetchesPerRun: pick((r) => r.pageFetches) } : {}),
      };
    };
    const paired = (a: Arm): Paired => {
      const ratios: number[] = [];
      for (const round of new Set(ok.map((r) => r.round))) {
        const none = ok.find((r) => r.round === round && r.arm === 'no page')?.MBps;
        const other = ok.find((r) => r.round === round && r.arm === a)?.MBps;
        if (none && other) ratios.push(other / none);
      }
      return { ratio: spread(ratios), slowerIn: ratios.filter((x) => x < 1).length, pairs: ratios.length };
    };
    return {
      arms: Object.fromEntries(ARMS.map((a) => [a, arm(a)])) as Record<Arm, ArmSummary>,
      vsNoPage: Object.fromEntries(OTHER_ARMS.map((a) => [a, paired(a)])) as Record<OtherArm, Paired>,
    };
  };
  return { download: one('download'), upload: one('upload') };
}

interface Target {
  text: string;
  met: boolean | null;
  detail: string;
}

const mb = (mib: number | undefined): number | undefined => (mib === undefined ? undefined : mib * MB_PER_MIB);

function targets(
  memory: Awaited<ReturnType<typeof measureMemory>>,
  bulk: Record<Direction, DirectionSummary>,
): Target[] {
  const out: Target[] = [];
  const after = memory.afterClose;
  const held = memory.whileHeld && !('error' in memory.whileHeld) ? memory.whileHeld : undefined;
  const worst = Math.max(after.renderMs.max, held?.renderMs.max ?? 0);
  out.push({
    text: `Connections view drawn in < ${RENDER_TARGET_MS} ms with ${after.flows.total.toLocaleString('en-US')} flows recorded`,
    met: after.flows.total >= 10_000 ? worst < RENDER_TARGET_MS : null,
    detail: `after close: median ${after.renderMs.median} ms, max ${after.renderMs.max} ms (${after.renderMs.n} loads)${held ? `; while ${held.flows.open} were open: median ${held.renderMs.median} ms, max ${held.renderMs.max} ms` : ''}`,
  });
  const peakHeld = failed(memory.hold) ? undefined : mb(memory.hold.usage?.rssMaxMiB);
  const peakAfter = mb(after.usage.rssMaxMiB);
  const alive = failed(memory.hold) ? undefined : (memory.hold.alive as number);
  out.push({
    text: `daemon RSS ≤ ${RSS_TARGET_MB} MB with 10,000 connections held (page open) and after they close`,
    met:
      peakHeld === undefined || peakAfter === undefined || alive !== 10_000
        ? null
        : Math.max(peakHeld, peakAfter) <= RSS_TARGET_MB,
    detail: failed(memory.hold)
      ? `hold failed: ${memory.hold.error}`
      : `${alive} of 10,000 alive after the hold; peak ${peakHeld?.toFixed(0)} MB while held, ${peakAfter?.toFixed(0)} MB after (${after.flows.total} flows recorded)`,
  });
  for (const [direction, d] of Object.entries(bulk)) {
    const none = d.arms['no page'].MBps;
    const page = d.arms.page.MBps;
    const p = d.vsNoPage.page;
    const api = d.vsNoPage['api poll'];
    const blank = d.vsNoPage['blank tab'];
    // A sign test over the rounds: "measurably lower" when the page lost every round (p = 2^-rounds).
    out.push({
      text: `bulk ${direction} not measurably lower with the page open (lower in every one of ≥ 5 rounds)`,
      met: p.pairs >= 5 ? p.slowerIn < p.pairs : null,
      detail:
        p.pairs > 0
          ? `page slower in ${p.slowerIn} of ${p.pairs} rounds, page ÷ no page median ${p.ratio.median.toFixed(2)} (${p.ratio.min.toFixed(2)}–${p.ratio.max.toFixed(2)}): ${page.median.toFixed(0)} MB/s (${page.min.toFixed(0)}–${page.max.toFixed(0)}) vs ${none.median.toFixed(0)} (${none.min.toFixed(0)}–${none.max.toFixed(0)}); a blank tab: ${blank.ratio.median.toFixed(2)} (${blank.ratio.min.toFixed(2)}–${blank.ratio.max.toFixed(2)}), slower in ${blank.slowerIn} of ${blank.pairs}; /api/connections polled without a browser: ${api.ratio.median.toFixed(2)} (${api.ratio.min.toFixed(2)}–${api.ratio.max.toFixed(2)}), slower in ${api.slowerIn} of ${api.pairs}`
          : 'not measured',
    });
  }
  return out;
}

function tableRows(figures: Figures): (string | number)[][] {
  const rows: (string | number)[][] = [];
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const add = (name: string, s: Spread | undefined, unit: string) =>
    rows.push(s && s.n > 0 ? [name, r1(s.median), r1(s.min), r1(s.max), unit] : [name, 'n/a', '', '', unit]);
  const one = (name: string, v: number | undefined, unit: string) =>
    rows.push([name, v === undefined ? 'n/a' : r1(v), '', '', unit]);
  const m = figures.memory;
  const held = m.whileHeld && !('error' in m.whileHeld) ? m.whileHeld : undefined;
  one('daemon RSS idle, no page', figures.idle?.rssEndMiB, 'MiB');
  if (!failed(m.hold)) {
    one(`held: connections alive after the hold (of ${figures.settings.count})`, m.hold.alive as number, '');
    one('held: daemon RSS peak (page open)', m.hold.usage?.rssMaxMiB, 'MiB');
    one('held: refetches by the open Connections tab (whole hold)', m.watcherFetchesDuringHold, '');
  }
  if (held) {
    add(`held (${held.flows.open} open): Connections view drawn`, held.renderMs, 'ms');
    add('  of which in the page (navigation start → drawn)', spread(held.renders.map((x) => x.sincePageStartMs)), 'ms');
    add('held: /api/connections (500 rows)', held.json.ms, 'ms');
    add('held: /api/connections?limit=2000', held.json2000.ms, 'ms');
  }
  const a = m.afterClose;
  one(
    `after close: flows recorded (ring ${a.flows.total - a.flows.dropped - a.flows.open} ended, ${a.flows.open} open)`,
    a.flows.total,
    '',
  );
  add('after close: Connections view drawn', a.renderMs, 'ms');
  add('  of which in the page (navigation start → drawn)', spread(a.renders.map((x) => x.sincePageStartMs)), 'ms');
  add(
    'after close: page fetch of /api/connections',
    spread(a.renders.flatMap((x) => (x.fetchMs === null ? [] : [x.fetchMs]))),
    'ms',
  );
  add(`after close: /api/connections (${a.json.rows} rows, ${Math.round(a.json.bytes / 1024)} KiB)`, a.json.ms, 'ms');
  add(`after close: /api/connections?limit=2000 (${Math.round(a.json2000.bytes / 1024)} KiB)`, a.json2000.ms, 'ms');
  one('after close: daemon RSS, janitor settled', a.rssSettledMiB, 'MiB');
  one('after close: daemon RSS peak while timing the page', a.usage.rssMaxMiB, 'MiB');
  for (const [direction, d] of Object.entries(figures.bulkSummary)) {
    for (const [arm, a] of Object.entries(d.arms)) {
      add(`bulk ${direction}, ${arm}`, a.MBps, 'MB/s');
      add('  daemon CPU', a.daemonCpuPercent, '% core');
      add('  daemon CPU per GB', a.daemonCpuSecondsPerGB, 's/GB');
      add('  chromium CPU', a.browserCpuPercent, '% core');
      if (arm === 'page' || arm === 'blank tab') {
        add('    of which tab renderers', a.rendererCpuPercent, '% core');
        add('    of which GPU process', a.gpuCpuPercent, '% core');
      }
      add('  whole machine busy', a.machineBusyPercent, '% (200 = both cores)');
      if (a.pageFetchesPerRun) add(`  page fetches per ${figures.settings.seconds} s run`, a.pageFetchesPerRun, '');
    }
    for (const [arm, p] of Object.entries(d.vsNoPage))
      add(`bulk ${direction}: ${arm} ÷ no page, per round`, p.ratio, `×, slower in ${p.slowerIn} of ${p.pairs}`);
  }
  return rows;
}

interface Figures {
  world: 'stand-in';
  startedAt: string;
  durationSeconds: number;
  commit: string;
  load: { before: number[]; after: number[] };
  settings: Options & { janitorSettleMs: number; jsonRepeats: number };
  idle: Usage | undefined;
  memory: Awaited<ReturnType<typeof measureMemory>>;
  bulkRuns: BulkRun[];
  bulkSummary: Record<Direction, DirectionSummary>;
  pageErrors: string[];
  targets: Target[];
  cleanupErrors: string[];
}

export async function run(args: string[]): Promise<BenchReport> {
  const o = parse(args);
  const cleanup = new Cleanup();
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: cleaning up`);
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();
  let figures: Figures;
  let cleanupErrors: string[] = [];
  try {
    const dir = mkdtempSync(join(tmpdir(), 'kvpn-bench-ui-'));
    cleanup.add('temporary directory', () => rmSync(dir, { recursive: true, force: true }));
    log(`load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`);
    const build = buildForBench();
    const world = await BenchWorld.start(cleanup, build);
    log(`test world ${world.cluster.id} (${world.kind}) up`);
    const kvpn = await startKvpn(world, cleanup, dir);
    await probeEcho(world, kvpn.targets.echoTcp, 30_000);
    const status = JSON.parse(await kvpn.cli(['status', '--json'])) as { sessions: { ui?: { url: string } }[] };
    const url = status.sessions[0]?.ui?.url;
    if (!url) throw new Error('kvpn status --json shows no inspection page (sessions[0].ui.url)');
    const idle = await measureIdle(kvpn, 2);
    const ui = await UiBrowser.open(world.laptop, url);
    cleanup.add('chromium', () => ui.close());
    log(`chromium (${ui.pids().length} processes) logged in to ${ui.origin}`);
    const rig: Rig = { world, kvpn, ui };
    const memory = await measureMemory(rig, o);
    const bulkRuns = await measureBulk(rig, cleanup, o);
    const bulkSummary = summarizeBulk(bulkRuns);
    figures = {
      world: 'stand-in',
      startedAt,
      durationSeconds: 0,
      commit: revision(),
      load: { before: loadBefore, after: [] },
      settings: { ...o, janitorSettleMs: JANITOR_SETTLE_MS, jsonRepeats: JSON_REPEATS },
      idle,
      memory,
      bulkRuns,
      bulkSummary,
      pageErrors: ui.pageErrors,
      targets: targets(memory, bulkSummary),
      cleanupErrors: [],
    };
  } finally {
    cleanupErrors = await cleanup.runAll();
    for (const e of cleanupErrors) log(`cleanup: ${e}`);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  figures.cleanupErrors = cleanupErrors;
  figures.durationSeconds = (performance.now() - T0) / 1000;
  figures.load.after = os.loadavg();
  if (o.out) {
    writeFileSync(o.out, `${JSON.stringify({ name: 'ui', machine: machineInfo(), ...figures }, null, 2)}\n`);
    log(`wrote ${o.out}`);
  }
  return {
    name: 'ui',
    table: { columns: ['measure', 'median', 'min', 'max', 'unit'], rows: tableRows(figures) },
    figures: figures as unknown as Record<string, unknown>,
    notes: [
      ...figures.targets.map(
        (t) => `${t.text}: ${t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met'} (${t.detail})`,
      ),
      `Stand-in world; load average ${figures.load.before.map((x) => x.toFixed(2)).join(' ')} before, ${figures.load.after.map((x) => x.toFixed(2)).join(' ')} after; commit ${figures.commit}; ${Math.round(figures.durationSeconds)} s.`,
      ...(figures.pageErrors.length ? [`Page errors: ${figures.pageErrors.join('; ')}`] : []),
    ],
  };
}
