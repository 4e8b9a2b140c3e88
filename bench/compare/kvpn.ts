// The kvpn arms of `npm run bench -- compare`: the real CLI, built to dist/
// for this run, in the laptop namespace, as a user runs it (`kvpn up
// --context staging --carrier h2|mux`, background daemon, resolv.conf mode),
// with its own state and runtime directories. Each arm names its carrier
// (kvpn: h2, kvpn-mux: mux) rather than leaning on the default or on a
// KVPN_CARRIER it inherited, and checks `kvpn status --json` shows that
// carrier in use: a relay without the mux would silently fall back to h2.
// Measures `up` itself: the CLI's wall time, the daemon's own startupMs,
// and the time until a first HTTP request by name succeeds (curl, retried).
// Then it resolves the names of the Services it is measured against once:
// with the staging user's rights on a real cluster kvpn guesses the Service
// range (/16 around the kubernetes and DNS Services, a degraded state it
// reports) and routes a Service outside it once its name is resolved — as a
// user reaching it by name would. On the stand-in nothing changes.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CarrierKind } from '../../src/tunnel/carrier.js';
import { type Arm, serviceTargets, type Targets } from './arms.js';
import type { Cleanup } from './cleanup.js';
import { processTree } from './proc.js';
import type { BenchWorld } from './world.js';

export const ECHO_NAME = 'echo.default.svc.cluster.local';

export interface UpTiming {
  /** From spawning `kvpn up` to its exit. */
  upCommandMs: number;
  /** From spawning `kvpn up` to the first successful HTTP request by name. */
  firstRequestMs: number;
  /** The daemon's own figure (status --json startupMs). */
  daemonStartupMs: number;
  /** `kvpn version`: the CLI starting and exiting, the floor under upCommandMs. */
  cliStartMs: number;
  /** The carrier status --json reported once up (checked: the one asked for). */
  carrier: CarrierKind;
}

export interface KvpnArm extends Arm {
  readonly name: 'kvpn' | 'kvpn-mux';
  readonly up: UpTiming;
  readonly dnsServer: string;
  readonly byName: Targets;
  readonly daemonPid: number;
  /** The session's counters (`kvpn status --json`: carrier, traffic, dnsStats). */
  counters(): Promise<Record<string, unknown>>;
  /** Runs the CLI against this session (its kubeconfig, state and runtime directories); its stdout. */
  cli(args: string[], timeoutMs?: number): Promise<string>;
}

export async function startKvpn(
  world: BenchWorld,
  cleanup: Cleanup,
  dir: string,
  carrier: CarrierKind = 'h2',
): Promise<KvpnArm> {
  const name = carrier === 'h2' ? 'kvpn' : 'kvpn-mux';
  const stateDir = join(dir, `${name}-state`);
  const runtimeDir = join(dir, `${name}-run`);
  mkdirSync(stateDir, { recursive: true });
  // Not KVPN_CARRIER: --carrier alone says which carrier this arm measures.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'KVPN_CARRIER'));
  const env = {
    ...inherited,
    KUBECONFIG: world.cluster.kubeconfigPath,
    KVPN_STATE_DIR: stateDir,
    KVPN_RUNTIME_DIR: runtimeDir,
    NODE_OPTIONS: '',
  };
  const kvpn = async (args: string[], timeoutMs = 90_000) => {
    const r = await world.cluster.exec(process.execPath, [world.build.kvpnCli, ...args], { env, timeoutMs });
    if (r.code !== 0) throw new Error(`kvpn ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim().slice(-600)}`);
    return r.stdout;
  };
  const t = performance.now();
  await kvpn(['version']);
  const cliStartMs = performance.now() - t;

  const down = cleanup.add(`${name} session`, async () => {
    await kvpn(['down', '--all'], 60_000);
  });
  const t0 = performance.now();
  try {
    await kvpn(['up', '--context', 'staging', '--carrier', carrier]);
  } catch (err) {
    await down().catch(() => {});
    throw err;
  }
  const upCommandMs = performance.now() - t0;
  let firstRequestMs = Number.NaN;
  for (let i = 0; i < 100; i++) {
    const r = await world.cluster.exec('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-m',
      '2',
      `http://${ECHO_NAME}/`,
    ]);
    if (r.stdout.trim() === '200') {
      firstRequestMs = performance.now() - t0;
      break;
    }
  }
  const services = serviceTargets(world);
  const byName: Targets = {
    iperf: { host: 'bench-iperf.default.svc.cluster.local', port: services.iperf.port },
    echoTcp: { host: ECHO_NAME, port: services.echoTcp.port },
    echoHttp: { host: ECHO_NAME, port: services.echoHttp.port },
  };
  for (const host of new Set([byName.iperf.host, byName.echoTcp.host])) {
    const r = await world.cluster.exec('getent', ['hosts', host]);
    if (r.code !== 0) throw new Error(`getent hosts ${host} through kvpn's DNS: exit ${r.code}`);
  }
  const status = JSON.parse(await kvpn(['status', '--json'])) as {
    sessions: {
      pid: number;
      startupMs: number;
      dns?: { server?: string | null };
      relay?: { carrier?: CarrierKind };
    }[];
  };
  const session = status.sessions[0];
  if (!session?.pid) throw new Error(`kvpn status shows no running session: ${JSON.stringify(status)}`);
  const pid = session.pid;
  // After a request went through, so the carrier is the one the tunnel settled on.
  const used = session.relay?.carrier;
  if (used !== carrier) {
    await down().catch(() => {});
    throw new Error(`kvpn up --carrier ${carrier}: kvpn status --json shows relay.carrier ${used ?? '(none)'}`);
  }
  const counters = async (): Promise<Record<string, unknown>> => {
    const doc = JSON.parse(await kvpn(['status', '--json'])) as { sessions: Record<string, unknown>[] };
    const { relay, traffic, dnsStats, warnings, degradations, degraded, routes, state } = doc.sessions[0] ?? {};
    // (`degraded` is the field's older name)
    const carrierNow = (relay as { carrier?: CarrierKind } | undefined)?.carrier;
    return { state, carrier: carrierNow, traffic, dnsStats, warnings, degradations: degradations ?? degraded, routes };
  };
  return {
    name,
    counters,
    cli: kvpn,
    targets: services,
    byName,
    up: { upCommandMs, firstRequestMs, daemonStartupMs: session.startupMs, cliStartMs, carrier: used },
    dnsServer: session.dns?.server ?? '198.18.0.2',
    daemonPid: pid,
    pids: () => processTree(pid),
    stop: down,
  };
}
