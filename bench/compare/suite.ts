// What `npm run bench -- compare` measures on each system, in order:
// idle CPU/RSS, bulk throughput (iperf3: 1 and 4 streams, each way),
// connection latency (sequential connect + first byte), the round trip of
// an open connection (sequential one-byte echoes), HTTP keep-alive
// requests/s, and last (it may break a system) connections held open at
// once. kvpn adds the same by name, and DNS. Every figure is taken as is;
// a measurement that fails is recorded with its error, never retried.
import type { Arm, Targets } from './arms.js';
import { type Usage, UsageMeter } from './proc.js';
import { type Bulk, type ClientResult, client, type DnsRun, dnsperf, type Failed, iperf } from './tools.js';
import type { BenchWorld, Endpoint } from './world.js';

export interface Settings {
  quick: boolean;
  bulkSeconds: number;
  bulkStreams: number[];
  connectCount: number;
  /** One-byte echoes on one open connection. */
  pingpongCount: number;
  httpConnections: number;
  httpSeconds: number;
  holdCounts: number[];
  holdConcurrency: number;
  holdMs: number;
  idleSeconds: number;
  dnsSeconds: number;
  dnsRate: number;
  rttMs: number;
  rttConnectCount: number;
}

export function settingsFor(quick: boolean, overrides: Partial<Settings>): Settings {
  const base: Settings = quick
    ? {
        quick,
        bulkSeconds: 2,
        bulkStreams: [1, 4],
        connectCount: 200,
        pingpongCount: 500,
        httpConnections: 10,
        httpSeconds: 2,
        holdCounts: [200, 1000],
        holdConcurrency: 200,
        holdMs: 1000,
        idleSeconds: 1,
        dnsSeconds: 2,
        dnsRate: 4000,
        rttMs: 20,
        rttConnectCount: 20,
      }
    : {
        quick,
        bulkSeconds: 10,
        bulkStreams: [1, 4],
        connectCount: 1000,
        pingpongCount: 5000,
        httpConnections: 10,
        httpSeconds: 5,
        holdCounts: [1000, 10000],
        holdConcurrency: 200,
        holdMs: 3000,
        idleSeconds: 3,
        dnsSeconds: 4,
        dnsRate: 4000,
        rttMs: 20,
        rttConnectCount: 100,
      };
  return { ...base, ...overrides };
}

export type Outcome<T> = T | Failed;

export interface ArmResult {
  idle?: Usage;
  /** Idle again after the last measurement. */
  idleAfter?: Usage;
  bulk: Record<string, Outcome<Bulk>>;
  connect?: Outcome<ClientResult>;
  /** The round trip of an open connection. */
  pingpong?: Outcome<ClientResult>;
  http?: Outcome<ClientResult>;
  hold: Record<string, Outcome<ClientResult>>;
  /** kvpn only: the same by name (resolved through the laptop's resolver, i.e. kvpn's DNS). */
  connectByName?: Outcome<ClientResult>;
  httpByName?: Outcome<ClientResult>;
  dns?: { max: Outcome<DnsRun>; atRate: Outcome<DnsRun>; rate: number };
  [extra: string]: unknown;
}

export function bulkKey(download: boolean, streams: number): string {
  return `${download ? 'download' : 'upload'}-${streams}`;
}

const T0 = performance.now();

export function log(msg: string): void {
  process.stderr.write(`[compare ${((performance.now() - T0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);
}

function describe(x: Outcome<object>, f: (v: Record<string, unknown>) => string): string {
  return 'error' in x ? `FAILED: ${(x as Failed).error}` : f(x as Record<string, unknown>);
}

const n = (v: unknown, digits = 1): string => (typeof v === 'number' ? v.toFixed(digits) : String(v));

/** Arm.prepare before a measurement; if it fails, that is the measurement's outcome. */
async function prepare(arm: Arm): Promise<Failed | undefined> {
  try {
    await arm.prepare?.();
    return undefined;
  } catch (err) {
    return { error: `preparing ${arm.name}: ${(err as Error).message}` };
  }
}

export async function measureBulk(
  world: BenchWorld,
  arm: Arm,
  target: Endpoint,
  s: Settings,
  streamsList: number[],
): Promise<Record<string, Outcome<Bulk>>> {
  const out: Record<string, Outcome<Bulk>> = {};
  for (const streams of streamsList) {
    for (const download of [true, false]) {
      const key = bulkKey(download, streams);
      out[key] =
        (await prepare(arm)) ??
        (await iperf(world, target, { seconds: s.bulkSeconds, streams, download }, () => arm.pids()));
      log(`${arm.name} ${key}: ${describe(out[key], (v) => `${n(v.MBps)} MB/s`)}`);
    }
  }
  return out;
}

export async function measureConnect(world: BenchWorld, arm: Arm, target: Endpoint, count: number, label = arm.name) {
  const r =
    (await prepare(arm)) ??
    (await client(
      world,
      [
        '--mode',
        'connect',
        '--host',
        target.host,
        '--port',
        String(target.port),
        '--count',
        String(count),
        '--deadline-ms',
        '60000',
      ],
      () => arm.pids(),
      120_000,
    ));
  log(
    `${label} connect x${count}: ${describe(r, (v) => `p50 ${n(v.p50Ms, 3)} ms, p99 ${n(v.p99Ms, 3)} ms, failed ${v.failed}`)}`,
  );
  return r;
}

/** `count` one-byte echoes, one after another, on one connection to `target`. */
async function measurePingpong(world: BenchWorld, arm: Arm, target: Endpoint, count: number, label = arm.name) {
  const r =
    (await prepare(arm)) ??
    (await client(
      world,
      ['--mode', 'pingpong', '--host', target.host, '--port', String(target.port), '--count', String(count)],
      () => arm.pids(),
      120_000,
    ));
  log(
    `${label} round trip on an open connection x${count}: ${describe(r, (v) => `p50 ${n(v.p50Ms, 3)} ms, p99 ${n(v.p99Ms, 3)} ms, failed ${v.failed}`)}`,
  );
  return r;
}

async function measureHttp(
  world: BenchWorld,
  arm: Arm,
  target: Endpoint,
  s: Settings,
  label = arm.name,
  also: Endpoint[] = [],
) {
  const args = ['--mode', 'http', '--host', target.host, '--port', String(target.port)];
  for (const t of also) args.push('--also', `${t.host}:${t.port}`);
  args.push('--connections', String(s.httpConnections), '--seconds', String(s.httpSeconds));
  const r = (await prepare(arm)) ?? (await client(world, args, () => arm.pids(), (s.httpSeconds + 60) * 1000));
  log(`${label} http: ${describe(r, (v) => `${n(v.rps, 0)} req/s, p99 ${n(v.p99Ms, 2)} ms, errors ${v.errors}`)}`);
  return r;
}

/** `count` echo connections opened and held at once (s.holdMs); `onHeld` runs while they are all open. */
export async function measureHold(
  world: BenchWorld,
  arm: Arm,
  target: Endpoint,
  count: number,
  s: Settings,
  onHeld?: () => Promise<void>,
) {
  const deadlineMs = Math.max(15_000, count * 2);
  const args = ['--mode', 'hold', '--host', target.host, '--port', String(target.port), '--count', String(count)];
  args.push(
    '--concurrency',
    String(s.holdConcurrency),
    '--hold-ms',
    String(s.holdMs),
    '--deadline-ms',
    String(deadlineMs),
  );
  const r =
    (await prepare(arm)) ?? (await client(world, args, () => arm.pids(), deadlineMs + s.holdMs + 60_000, onHeld));
  log(
    `${arm.name} hold ${count}: ${describe(r, (v) => `opened ${v.opened}, alive ${v.alive}, RSS ${v.heldRssMiB === undefined ? 'n/a' : `${n(v.heldRssMiB)} MiB`}`)}`,
  );
  return r;
}

export async function measureIdle(arm: Arm, seconds: number): Promise<Usage | undefined> {
  if (arm.pids().length === 0) return undefined;
  const meter = new UsageMeter(() => arm.pids()).start();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const usage = meter.stop();
  log(`${arm.name} idle: CPU ${n(usage.cpuPercent)} %, RSS ${n(usage.rssEndMiB)} MiB`);
  return usage;
}

/** The whole suite on one system; `byName` (kvpn) repeats connect and HTTP by name, `dns` adds DNS. */
export async function measureArm(
  world: BenchWorld,
  arm: Arm,
  s: Settings,
  extra: {
    byName?: Targets;
    dns?: { server: string; names: string[]; dir: string };
    /** Runs right after the connect test, before anything else dials (kvpn: the daemon's own dial times). */
    afterConnect?: () => Promise<unknown>;
  } = {},
): Promise<ArmResult> {
  const t = arm.targets;
  const result: ArmResult = { bulk: {}, hold: {} };
  result.idle = await measureIdle(arm, s.idleSeconds);
  result.bulk = await measureBulk(world, arm, t.iperf, s, s.bulkStreams);
  result.connect = await measureConnect(world, arm, t.echoTcp, s.connectCount);
  if (extra.afterConnect) result.connectPath = await extra.afterConnect();
  result.pingpong = await measurePingpong(world, arm, t.echoTcp, s.pingpongCount);
  if (extra.byName)
    result.connectByName = await measureConnect(
      world,
      arm,
      extra.byName.echoTcp,
      s.connectCount,
      `${arm.name} by name`,
    );
  result.http = await measureHttp(world, arm, t.echoHttp, s, arm.name, t.echoHttpAlso);
  if (extra.byName) result.httpByName = await measureHttp(world, arm, extra.byName.echoHttp, s, `${arm.name} by name`);
  if (extra.dns) {
    const { server, names, dir } = extra.dns;
    const max = await dnsperf(world, server, names, s.dnsSeconds, dir);
    const atRate = await dnsperf(world, server, names, s.dnsSeconds, dir, s.dnsRate);
    result.dns = { max, atRate, rate: s.dnsRate };
    log(
      `${arm.name} dns: ${describe(max, (v) => `${n(v.qps, 0)} q/s`)}; at ${s.dnsRate} q/s ${describe(atRate, (v) => `p99 ${n(v.p99Ms, 3)} ms`)}`,
    );
  }
  for (const count of s.holdCounts) result.hold[String(count)] = await measureHold(world, arm, t.echoTcp, count, s);
  // Does the daemon settle (CPU) and give memory back once everything is closed?
  result.idleAfter = await measureIdle(arm, s.idleSeconds);
  if (arm.diagnostics) result.diagnostics = arm.diagnostics();
  return result;
}

/** The 20 ms RTT run: one stream each way and connection latency. */
export async function measureRtt(world: BenchWorld, arm: Arm, s: Settings): Promise<ArmResult> {
  return {
    bulk: await measureBulk(world, arm, arm.targets.iperf, s, [1]),
    connect: await measureConnect(world, arm, arm.targets.echoTcp, s.rttConnectCount, `${arm.name} (RTT)`),
    pingpong: await measurePingpong(world, arm, arm.targets.echoTcp, s.rttConnectCount, `${arm.name} (RTT)`),
    hold: {},
  };
}

/** What dnsperf asks kvpn's DNS server: Service names of the world (A, AAAA, SRV) and names that do not exist. */
export function dnsNames(): string[] {
  const out: string[] = [];
  for (const svc of ['echo', 'postgres', 'udp-echo', 'kubernetes', 'bench-iperf']) {
    out.push(`${svc}.default.svc.cluster.local A`, `${svc}.default.svc.cluster.local AAAA`);
  }
  out.push('_http._tcp.echo.default.svc.cluster.local SRV', 'nothing-here.default.svc.cluster.local A');
  return out;
}
