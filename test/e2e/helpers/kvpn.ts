// kvpn as a user runs it, against the test world: the real CLI inside the
// laptop namespace (`ip netns exec`, so it sees the laptop's resolv.conf),
// with its own state and runtime dirs. And the check that matters after
// every `down`: nothing kvpn made is left — asserted, not eyeballed.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { isAlive } from '../../../src/session/process-info.js';
import { selfCommand } from '../../../src/session/self-command.js';
import type { Cluster, ExecResult } from '../../cluster/index.js';

export interface Kvpn {
  dir: string;
  stateDir: string;
  runtimeDir: string;
  env: NodeJS.ProcessEnv;
  /** `kvpn ARGS` in the laptop namespace. */
  run(args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ExecResult>;
  /** The laptop's resolv.conf bytes before kvpn touched it. */
  resolvConfBefore: Buffer;
}

export function kvpnIn(t: Test, cluster: Cluster): Kvpn {
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
  const self = selfCommand();
  const kvpn: Kvpn = {
    dir,
    stateDir,
    runtimeDir,
    env,
    resolvConfBefore: readFileSync(cluster.laptopResolvConf),
    run: (args, opts = {}) =>
      cluster.exec(self.command, [...self.args, ...args], {
        env: { ...env, ...(opts.env ?? {}) },
        timeoutMs: opts.timeoutMs ?? 60_000,
      }),
  };
  t.teardown(async () => {
    // Whatever a failed test left running: stop it the way a user would.
    await kvpn.run(['down', '--all']).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return kvpn;
}

export async function laptop(cluster: Cluster, cmd: string, args: string[], timeoutMs = 15_000): Promise<ExecResult> {
  return cluster.exec(cmd, args, { timeoutMs });
}

/** A UDP datagram to HOST:PORT from the laptop and the first reply, via a one-line node script. */
export async function udpRoundTrip(cluster: Cluster, host: string, port: number, payload: string): Promise<string> {
  const script = `
const s = require('dgram').createSocket('udp4');
const timer = setTimeout(() => { console.error('timeout'); process.exit(2); }, 5000);
s.on('message', (m) => { process.stdout.write(m.toString()); clearTimeout(timer); s.close(); });
s.send(${JSON.stringify(payload)}, ${port}, ${JSON.stringify(host)});`;
  const r = await cluster.exec(process.execPath, ['-e', script], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`UDP round trip to ${host}:${port} failed: ${r.stderr}`);
  return r.stdout;
}

export interface Leftovers {
  links: string[];
  routes: string[];
  resolvConfChanged: boolean;
  relayObjects: string[];
  processes: number[];
  files: string[];
}

/** Everything kvpn could have left behind, in the laptop and the cluster. */
export async function leftovers(cluster: Cluster, kvpn: Kvpn, daemonPids: number[] = []): Promise<Leftovers> {
  const links = JSON.parse((await cluster.exec('ip', ['-json', 'link', 'show'])).stdout || '[]') as {
    ifname: string;
  }[];
  const routes = (await cluster.exec('ip', ['route', 'show'])).stdout.split('\n').filter(Boolean);
  const routes6 = (await cluster.exec('ip', ['-6', 'route', 'show'])).stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('::1 ') && !l.includes('dev lo'));
  const relayObjects: string[] = [];
  for (const key of ['pods', 'configmaps', 'secrets', 'apps/deployments', 'services']) {
    for (const o of await cluster.objects(key).catch(() => [])) {
      const labels = o.metadata.labels ?? {};
      const name = o.metadata.name ?? '';
      if (
        name.startsWith('kvpn') ||
        Object.keys(labels).some((k) => k.includes('kvpn')) ||
        Object.values(labels).some((v) => String(v).includes('kvpn'))
      ) {
        relayObjects.push(`${key}/${o.metadata.namespace}/${name}`);
      }
    }
  }
  const files: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(kvpn.runtimeDir);
  walk(join(kvpn.stateDir, 'sessions'));
  walk(join(kvpn.stateDir, 'dns'));
  return {
    links: links.map((l) => l.ifname).filter((n) => n !== 'lo'),
    routes: [...routes, ...routes6],
    resolvConfChanged: !readFileSync(cluster.laptopResolvConf).equals(kvpn.resolvConfBefore),
    relayObjects,
    processes: daemonPids.filter((pid) => isAlive(pid)),
    files,
  };
}

export const CLEAN: Leftovers = {
  links: [],
  routes: [],
  resolvConfChanged: false,
  relayObjects: [],
  processes: [],
  files: [],
};
