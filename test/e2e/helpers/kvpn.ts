// kvpn as a user runs it, against the test world: the real CLI inside the
// laptop namespace (`ip netns exec`, so it sees the laptop's resolv.conf),
// or another laptop's (cluster.addLaptop()), with its own state and runtime dirs. And the check that matters after
// every `down`: nothing kvpn made is left — asserted, not eyeballed.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { isAlive } from '../../../src/host/process-info.js';
import { selfCommand } from '../../../src/host/self-command.js';
import type { Cluster, ExecResult, Laptop } from '../../cluster/index.js';

export interface Kvpn {
  dir: string;
  stateDir: string;
  runtimeDir: string;
  env: NodeJS.ProcessEnv;
  /** Where it runs: cluster.laptop unless kvpnIn was given another. */
  laptop: Laptop;
  /** `kvpn ARGS` in its laptop's namespace. */
  run(args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string }): Promise<ExecResult>;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Newest modification time under `dir` of files ending in `ext`. */
function newest(dir: string, ext: string): number {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(ext))
      max = Math.max(max, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return max;
}

/**
 * The installed form (dist/, as `npm test` builds it) when it is newer than
 * every source file; else the sources through the TypeScript loader (slower
 * to start, never stale).
 */
export function kvpnCommand(): { command: string; args: string[] } {
  const main = join(ROOT, 'dist/src/cli/main.js');
  if (existsSync(main) && newest(join(ROOT, 'dist/src'), '.js') >= newest(join(ROOT, 'src'), '.ts')) {
    return { command: process.execPath, args: [main] };
  }
  return selfCommand();
}

/** kvpn in `laptop` (default: the world's first, cluster.laptop), with dirs of its own. */
export function kvpnIn(t: Test, cluster: Cluster, laptop: Laptop = cluster.laptop): Kvpn {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-e2e-'));
  const stateDir = join(dir, 'state');
  const runtimeDir = join(dir, 'run');
  const env = {
    ...process.env,
    KUBECONFIG: cluster.kubeconfigPath,
    KVPN_STATE_DIR: stateDir,
    KVPN_RUNTIME_DIR: runtimeDir,
    NODE_OPTIONS: '',
  };
  const self = kvpnCommand();
  const kvpn: Kvpn = {
    dir,
    stateDir,
    runtimeDir,
    env,
    laptop,
    run: async (args, opts = {}) => {
      const t0 = Date.now();
      const r = await laptop.exec(self.command, [...self.args, ...args], {
        env: { ...env, ...(opts.env ?? {}) },
        timeoutMs: opts.timeoutMs ?? 60_000,
        ...(opts.input === undefined ? {} : { input: opts.input }),
      });
      if (process.env.KVPN_E2E_TIMING)
        console.error(`# kvpn ${args.join(' ')}: exit ${r.code} in ${Date.now() - t0} ms`);
      return r;
    },
  };
  t.teardown(async () => {
    // A failure (often a rare one, in CI) leaves its evidence: the daemons' logs.
    if (!t.passing()) printDaemonLogs(t, stateDir);
    // Whatever a failed test left running: stop it the way a user would.
    await kvpn.run(['down', '--all']).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return kvpn;
}

const LOG_TAIL_LINES = 80;

function printDaemonLogs(t: Test, stateDir: string): void {
  const logs = join(stateDir, 'logs');
  if (!existsSync(logs)) return;
  for (const name of readdirSync(logs)) {
    const lines = readFileSync(join(logs, name), 'utf8').trimEnd().split('\n');
    t.comment(`daemon log ${name} (last ${LOG_TAIL_LINES} lines):\n${lines.slice(-LOG_TAIL_LINES).join('\n')}`);
  }
}

export async function laptop(cluster: Cluster, cmd: string, args: string[], timeoutMs = 15_000): Promise<ExecResult> {
  return cluster.exec(cmd, args, { timeoutMs });
}

/** A UDP datagram to HOST:PORT from the laptop and the first reply, via a one-line node script. */
export async function udpRoundTrip(cluster: Cluster, host: string, port: number, payload: string): Promise<string> {
  const script = `
const s = require('dgram').createSocket(${JSON.stringify(host.includes(':') ? 'udp6' : 'udp4')});
const timer = setTimeout(() => { console.error('timeout'); process.exit(2); }, 5000);
s.on('message', (m) => { process.stdout.write(m.toString()); clearTimeout(timer); s.close(); });
s.send(${JSON.stringify(payload)}, ${port}, ${JSON.stringify(host)});`;
  const r = await cluster.exec(process.execPath, ['-e', script], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`UDP round trip to ${host}:${port} failed: ${r.stderr}`);
  return r.stdout;
}

/** What kvpn could leave behind, in its laptop and the cluster; compare a snapshot before `up` with one after `down`. */
export interface Snapshot {
  links: string[];
  /** Every address of every link, both families ("dev family address/prefix"). */
  addresses: string[];
  routes: string[];
  /** The laptop's resolv.conf, byte for byte (base64). */
  resolvConf: string;
  kvpnObjects: string[];
  liveDaemons: number[];
  files: string[];
}

function isKvpnObject(o: { metadata: { name?: string; labels?: Record<string, string> } }): boolean {
  const labels = o.metadata.labels ?? {};
  return (
    (o.metadata.name ?? '').startsWith('kvpn') ||
    Object.keys(labels).some((k) => k.startsWith('kvpn.dev/')) ||
    labels['app.kubernetes.io/managed-by'] === 'kvpn'
  );
}

export async function snapshot(cluster: Cluster, kvpn: Kvpn, daemonPids: number[] = []): Promise<Snapshot> {
  const laptop = kvpn.laptop;
  const links = JSON.parse((await laptop.exec('ip', ['-json', 'link', 'show'])).stdout || '[]') as {
    ifname: string;
  }[];
  const addressLines = JSON.parse((await laptop.exec('ip', ['-json', 'addr', 'show'])).stdout || '[]') as {
    ifname: string;
    addr_info?: { family: string; local: string; prefixlen: number }[];
  }[];
  const addresses = addressLines.flatMap((l) =>
    (l.addr_info ?? []).map((a) => `${l.ifname} ${a.family} ${a.local}/${a.prefixlen}`),
  );
  const routes = [
    ...(await laptop.exec('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout.split('\n'),
    ...(await laptop.exec('ip', ['-6', 'route', 'show', 'table', 'all'])).stdout.split('\n'),
  ].filter(Boolean);
  const kvpnObjects: string[] = [];
  for (const key of ['pods', 'configmaps', 'secrets', 'services']) {
    for (const o of await cluster.objects(key)) {
      if (isKvpnObject(o)) kvpnObjects.push(`${key}/${o.metadata.namespace}/${o.metadata.name}`);
    }
  }
  const files: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      files.push(path);
      if (entry.isDirectory()) walk(path);
    }
  };
  walk(kvpn.runtimeDir);
  walk(join(kvpn.stateDir, 'sessions'));
  walk(join(kvpn.stateDir, 'dns'));
  return {
    links: links.map((l) => l.ifname).sort(),
    addresses: addresses.sort(),
    routes: routes.sort(),
    resolvConf: readFileSync(laptop.resolvConf).toString('base64'),
    kvpnObjects: kvpnObjects.sort(),
    liveDaemons: daemonPids.filter((pid) => isAlive(pid)),
    files: files.sort(),
  };
}

/** The daemon pid of the only running session, from `kvpn status --json`. */
export async function daemonPid(kvpn: Kvpn): Promise<number> {
  const r = await kvpn.run(['status', '--json']);
  const pid = (JSON.parse(r.stdout) as { sessions: { pid?: number }[] }).sessions[0]?.pid;
  if (!pid) throw new Error(`no running session: ${r.stdout} ${r.stderr}`);
  return pid;
}
