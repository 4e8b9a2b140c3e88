// `npm run bench -- compare [--world stand-in|real] [--quick] [--out DIR] [--systems a,b]
//                            [--no-rtt] [--seconds N] [--rtt MS] [--sshuttle-arg ARG]...`
// `npm run bench -- compare --render FILE.json [--out DIR]`: tables, chart (and,
//   for bench/results/compare.json, docs/performance.md) again from a saved run.
//
// kvpn against what a user could use instead, in one run on one test world
// (test/cluster: the stand-in, or with --world real a real Kubernetes), as
// ratios (docs/performance.md explains the method):
//   direct                the laptop routed straight into the cluster (no tunnel)
//   kubectl-port-forward  `kubectl port-forward` itself (real world only by
//                         default: the stand-in does not speak its protocol)
//   port-forward          one raw v4.channel.k8s.io stream per connection
//   kvpn                  `kvpn up --carrier h2`, by cluster IP and by name
//   kvpn-mux              `kvpn up --carrier mux`: the same over the mux carrier
//   sshuttle              Telepresence 1's vpn-tcp: sshuttle over ssh to a pod
// then the tunnels again with 20 ms RTT added between the laptop and the API
// server (the stand-in's userspace delay proxy; the real world has none, so
// there it is skipped).
// Writes compare.{json,md,svg} (a real-world run: compare-real.*) to
// bench/results/ (with --quick: to a temporary directory, unless --out);
// only a stand-in run rewrites docs/performance.md's tables. Everything it
// creates is removed at the end, on failure and on Ctrl-C.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Arm, startPortForward, startSshuttle } from './compare/arms.js';
import { buildForBench } from './compare/build.js';
import { renderSvg } from './compare/chart.js';
import { Cleanup } from './compare/cleanup.js';
import { daemonDialTimes } from './compare/dial-times.js';
import { startDirect } from './compare/direct.js';
import { startKubectlPortForward } from './compare/kubectl-forward.js';
import { type KvpnArm, startKvpn } from './compare/kvpn.js';
import { renderMarkdown, updateDoc } from './compare/markdown.js';
import { methodNotes } from './compare/notes.js';
import { mainColumns, mainRows, type Results, SYSTEMS, type SystemName } from './compare/render.js';
import {
  type ArmResult,
  dnsNames,
  log,
  measureArm,
  measureBulk,
  measureRtt,
  type Settings,
  settingsFor,
} from './compare/suite.js';
import { evaluateTargets } from './compare/targets.js';
import { probeEcho } from './compare/tools.js';
import { BenchWorld, type WorldKind } from './compare/world.js';
import { type BenchReport, machineInfo } from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The real world's arms, in the order they run: the two whose every
 * connection is a stream through containerd last, kubectl last of all — its
 * 10,000 held connections can exhaust containerd's descriptors, and
 * containerd takes minutes to recover, failing whatever runs next.
 */
const REAL_ORDER: SystemName[] = ['direct', 'kvpn', 'kvpn-mux', 'sshuttle', 'port-forward', 'kubectl-port-forward'];

/** What the real world cannot give the RTT run. */
const RTT_SKIPPED_REAL =
  "the real world has no way to add latency between the laptop and the API server (the stand-in's userspace delay proxy is part of its API server; this kernel has no netem)";

interface Options {
  world: WorldKind;
  quick: boolean;
  out: string | undefined;
  systems: SystemName[];
  rtt: boolean;
  sshuttleArgs: string[];
  overrides: Partial<Settings>;
  /** Re-render this saved compare.json instead of measuring. */
  render: string | undefined;
}

function parse(args: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const world = (value('world') ?? 'stand-in') as WorldKind;
  if (world !== 'stand-in' && world !== 'real') throw new Error(`unknown world "${world}" (stand-in, real)`);
  // kubectl port-forward speaks SPDY (over a WebSocket or not), which only the real world serves.
  const defaults = world === 'real' ? REAL_ORDER : SYSTEMS.filter((n) => n !== 'kubectl-port-forward');
  const systems = (value('systems')?.split(',') ?? defaults) as SystemName[];
  for (const s of systems) if (!SYSTEMS.includes(s)) throw new Error(`unknown system "${s}" (${SYSTEMS.join(', ')})`);
  const overrides: Partial<Settings> = {};
  if (value('seconds')) overrides.bulkSeconds = Number(value('seconds'));
  if (value('rtt')) overrides.rttMs = Number(value('rtt'));
  const sshuttleArgs = args.flatMap((a, i) => (a === '--sshuttle-arg' ? [args[i + 1] as string] : []));
  return {
    world,
    quick: args.includes('--quick'),
    out: value('out'),
    systems,
    rtt: !args.includes('--no-rtt'),
    sshuttleArgs,
    overrides,
    render: value('render'),
  };
}

/** A tool's version from the text it prints (stdout and stderr together; some print to stderr or exit 1). */
function version(cmd: string, args: string[], re: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return 'not installed';
  return re.exec(`${r.stdout}${r.stderr}`)?.[1] ?? '?';
}

function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${head} + uncommitted changes in src/` : head;
  } catch {
    return 'unknown';
  }
}

/** Either kvpn arm (h2 or mux carrier). */
function isKvpn(arm: Arm): arm is KvpnArm {
  return arm.name === 'kvpn' || arm.name === 'kvpn-mux';
}

async function startArm(name: SystemName, world: BenchWorld, cleanup: Cleanup, dir: string, o: Options): Promise<Arm> {
  switch (name) {
    case 'direct':
      return startDirect(world, cleanup);
    case 'kubectl-port-forward':
      return startKubectlPortForward(world, cleanup);
    case 'port-forward':
      return startPortForward(world, cleanup);
    case 'sshuttle':
      return startSshuttle(world, cleanup, { extraArgs: o.sshuttleArgs });
    case 'kvpn':
      return startKvpn(world, cleanup, dir, 'h2');
    case 'kvpn-mux':
      return startKvpn(world, cleanup, dir, 'mux');
  }
}

/** compare (the stand-in) or compare-real: a real-world run never overwrites the stand-in's files. */
function baseName(res: Results): string {
  return res.world === 'real' ? 'compare-real' : 'compare';
}

/**
 * Targets and notes from the figures, then <base>.{json,md,svg} in `out`;
 * `doc`: also docs/performance.md's tables, which are the stand-in's (a
 * real-world run has its own hand-written section there).
 */
function publish(res: Results, out: string, doc: boolean): void {
  res.targets = evaluateTargets(res);
  res.notes = methodNotes(res);
  mkdirSync(out, { recursive: true });
  const base = join(out, baseName(res));
  writeFileSync(`${base}.json`, `${JSON.stringify(res, null, 2)}\n`);
  writeFileSync(`${base}.md`, renderMarkdown(res));
  writeFileSync(`${base}.svg`, renderSvg(res));
  const path = join(ROOT, 'docs', 'performance.md');
  if (doc && res.world !== 'real' && existsSync(path)) {
    writeFileSync(path, updateDoc(readFileSync(path, 'utf8'), res));
    log(`updated the tables in ${path}`);
  }
}

function report(res: Results): BenchReport {
  return {
    name: 'compare',
    table: { columns: mainColumns(res), rows: mainRows(res) },
    figures: res as unknown as Record<string, unknown>,
    notes: res.targets.map(
      (t) => `${t.text}: ${t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met'} (${t.detail})`,
    ),
  };
}

export async function run(args: string[]): Promise<BenchReport> {
  const o = parse(args);
  if (o.render) {
    // Re-render a saved run (after a change to the tables or the chart); measures nothing.
    const res = JSON.parse(readFileSync(o.render, 'utf8')) as Results;
    const out = o.out ?? dirname(o.render);
    publish(res, out, resolve(out) === join(ROOT, 'bench', 'results'));
    return report(res);
  }
  const s = settingsFor(o.quick, o.overrides);
  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = true;
    log(`${signal}: cleaning up`);
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-bench-compare-'));
  cleanup.add('temporary directory', () => rmSync(dir, { recursive: true, force: true }));
  const started = new Date();
  const t0 = performance.now();
  const res: Results = {
    name: 'compare',
    world: o.world,
    startedAt: started.toISOString(),
    durationSeconds: 0,
    commit: commit(),
    machine: machineInfo(),
    load: { before: os.loadavg(), after: [] },
    settings: { ...s, systems: o.systems, sshuttleArgs: o.sshuttleArgs },
    versions: {
      iperf3: version('iperf3', ['--version'], /iperf (\S+)/),
      sshuttle: version('sshuttle', ['--version'], /(\S+)/),
      OpenSSH: version('ssh', ['-V'], /OpenSSH_([^\s,]+)/),
      dnsperf: version('dnsperf', ['-h'], /Version (\S+)/),
    },
    systems: {},
    rtt: { rttMs: s.rttMs, systems: {}, ...(o.world === 'real' && o.rtt ? { skipped: RTT_SKIPPED_REAL } : {}) },
    targets: [],
    notes: [],
    cleanupErrors: [],
  };
  try {
    log(
      `load average ${res.load.before.map((x) => x.toFixed(2)).join(' ')}; ${o.quick ? 'quick' : 'full'} run on the ${o.world} world`,
    );
    const build = buildForBench();
    log(`built dist/ and the helpers (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    const world = await BenchWorld.start(cleanup, build, o.world);
    log(`test world ${world.cluster.id} (${world.kind}) up (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    Object.assign(res.versions, await world.versions().catch((err: Error) => ({ kubectl: `? (${err.message})` })));
    res.settings.descriptorLimit = world.nofile;
    // One system at a time: started, measured, stopped (a failure is recorded, not fatal).
    const session = async (label: string, start: () => Promise<Arm>, measure: (arm: Arm) => Promise<ArmResult>) => {
      let arm: Arm | undefined;
      try {
        if (interrupted) throw new Error('interrupted');
        arm = await start();
        const ms = await probeEcho(world, arm.targets.echoTcp, 30_000);
        log(`${label}: first echo through it after ${ms.toFixed(0)} ms of probing`);
        return await measure(arm);
      } catch (err) {
        log(`${label} FAILED: ${(err as Error).stack}`);
        return { error: (err as Error).message };
      } finally {
        await arm?.stop().catch((err: Error) => res.cleanupErrors.push(`${label}: ${err.message}`));
      }
    };
    // kvpn's own figures: how `up` went, and its counters after the measurements (evidence of what passed through).
    const withUp = async (arm: Arm, r: ArmResult): Promise<ArmResult> =>
      isKvpn(arm)
        ? { ...r, up: arm.up, counters: await arm.counters().catch((err: Error) => ({ error: err.message })) }
        : r;
    for (const name of o.systems) {
      res.systems[name] = await session(
        name,
        () => startArm(name, world, cleanup, dir, o),
        async (arm) =>
          withUp(
            arm,
            await measureArm(world, arm, s, {
              ...(isKvpn(arm)
                ? {
                    byName: arm.byName,
                    dns: { server: arm.dnsServer, names: dnsNames(), dir },
                    afterConnect: () => daemonDialTimes(world, arm.cli, dir, arm.targets.echoTcp, s.connectCount),
                  }
                : {}),
            }),
          ),
      );
      if (name === 'sshuttle' && !o.sshuttleArgs.includes('--no-latency-control')) {
        // sshuttle's best case for bulk: its latency control off (Telepresence 1 left it on).
        res.sshuttleTuned = await session(
          'sshuttle --no-latency-control',
          () =>
            startSshuttle(world, cleanup, {
              name: 'sshuttle --no-latency-control',
              extraArgs: ['--no-latency-control', ...o.sshuttleArgs],
            }),
          async (arm) => ({ bulk: await measureBulk(world, arm, arm.targets.iperf, s, [1]), hold: {} }),
        );
      }
    }
    const rttSystems = o.systems.filter((n) => n !== 'direct');
    if (o.rtt && rttSystems.length && res.rtt.skipped) log(`no RTT run: ${res.rtt.skipped}`);
    else if (o.rtt && rttSystems.length) {
      await world.cluster.setApiLatency(s.rttMs);
      const undo = cleanup.add('API latency', () => world.cluster.setApiLatency(0));
      log(`${s.rttMs} ms RTT added between the laptop and the API server`);
      for (const name of rttSystems) {
        res.rtt.systems[name] = await session(
          `${name} (RTT)`,
          () => startArm(name, world, cleanup, dir, o),
          async (arm) => withUp(arm, await measureRtt(world, arm, s)),
        );
      }
      await undo();
    }
  } finally {
    res.cleanupErrors.push(...(await cleanup.runAll()));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  res.durationSeconds = (performance.now() - t0) / 1000;
  res.load.after = os.loadavg();
  const out = o.out ?? (o.quick ? join(tmpdir(), 'kvpn-compare-quick') : join(ROOT, 'bench', 'results'));
  publish(res, out, !o.quick && !o.out);
  log(`wrote ${join(out, `${baseName(res)}.{json,md,svg}`)} (${Math.round(res.durationSeconds)} s)`);
  return report(res);
}
