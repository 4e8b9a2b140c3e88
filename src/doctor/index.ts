// `kvpn doctor`: everything `kvpn up` (and env, expose, intercept, mount)
// needs, checked without changing anything. Data flow:
//
//   machine:  Node.js ─► TUN addon ─► /dev/net/tun + root|sudo ─► resolver (--dns auto)
//   cluster:  kubeconfig ─► GET /version ─► SelfSubjectAccessReviews per Role (rights.ts)
//             ─► CIDR discovery (read-only) vs this machine's routes
//             ─► --deep: one relay pod + one port-forward, always removed
//
// Each check returns a CheckResult (check.ts); a failed kubeconfig or API
// check turns the cluster checks after it into skips. The probes that touch
// the machine and the cluster are injected (tests use fakes); only src/cli
// prints and picks the exit code.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { open, readFile, readlink, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createSystemDns, parseResolvConf } from '../dns/index.js';
import { KubeClient, type KubeTarget } from '../kube/client.js';
import { DEFAULT_RELAY_IMAGE } from '../relay/deploy.js';
import { apiServerAddresses } from '../session/session-client.js';
import { routeTable } from '../tun/routes.js';
import { type CheckResult, skip } from './check.js';
import {
  checkApi,
  checkKubeconfig,
  checkRelay,
  checkRoutes,
  defaultRelayProbe,
  type RelayProbe,
  type RoutesProbe,
  skipRelay,
} from './cluster.js';
import {
  checkDns,
  checkNode,
  checkTunAddon,
  checkTunDevice,
  type DnsProbe,
  hasNetAdmin,
  type TunDeviceProbe,
} from './machine.js';
import { checkRbac, rbacCheckId } from './rbac.js';
import { KVPN_ROLES } from './rights.js';

export type { CheckResult, CheckStatus } from './check.js';
export { KVPN_ROLES, type PolicyRule, type RoleSpec } from './rights.js';

export interface DoctorOptions {
  target: KubeTarget;
  /** Start one relay pod and port-forward to it (removed afterwards). */
  deep: boolean;
  /** Whether this process is root, and the sudo `up` would use otherwise (the CLI knows both). */
  root: boolean;
  sudo: string | undefined;
  signal?: AbortSignal | undefined;
  /** Each result as soon as it is known (the CLI prints it). */
  onResult?: ((result: CheckResult) => void) | undefined;
}

export interface DoctorProbes {
  nodeVersion: string;
  /** `engines.node` of kvpn's package.json. */
  engines: string;
  platform: NodeJS.Platform;
  loadTunAddon(): Promise<unknown>;
  tun: Omit<TunDeviceProbe, 'root' | 'sudo'>;
  dns: DnsProbe;
  loadClient(target: KubeTarget): KubeClient;
  routes: RoutesProbe;
  relay: RelayProbe;
}

/** Runs every check in order; resolves with all results. */
export async function runChecks(
  options: DoctorOptions,
  probes: DoctorProbes = defaultProbes(),
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (r: CheckResult): void => {
    results.push(r);
    options.onResult?.(r);
  };
  add(checkNode(probes.nodeVersion, probes.engines));
  add(await checkTunAddon(probes.platform, probes.loadTunAddon));
  add(await checkTunDevice({ ...probes.tun, root: options.root, sudo: options.sudo }));
  add(await checkDns(probes.dns));

  const { result, client } = checkKubeconfig(options.target, probes.loadClient);
  add(result);
  const later = [
    { id: 'api', title: 'API server' },
    ...KVPN_ROLES.map((r) => ({ id: rbacCheckId(r), title: `RBAC: Role ${r.name}` })),
    { id: 'routes', title: 'route conflicts' },
  ];
  if (!client) {
    for (const c of later) add(skip(c.id, c.title, 'needs a kubeconfig and context (above)'));
    add(skipRelay(DEFAULT_RELAY_IMAGE));
    return results;
  }
  try {
    const api = await checkApi(client);
    add(api);
    if (api.status === 'fail') {
      for (const c of later.slice(1)) add(skip(c.id, c.title, 'needs the API server (above)'));
      add(skipRelay(DEFAULT_RELAY_IMAGE));
      return results;
    }
    const rbac = await checkRbac(client, client.namespace);
    for (const r of rbac) add(r);
    add(await checkRoutes(client, probes.routes));
    if (!options.deep) add(skipRelay(DEFAULT_RELAY_IMAGE));
    else if (rbac[0]?.status === 'fail')
      add(skip('relay', 'relay pod (--deep)', 'not started: the kvpn Role is missing rights (above)'));
    else add(await checkRelay(client, probes.relay, options.signal));
    return results;
  } finally {
    client.close();
  }
}

/** No failure: everything `kvpn up` needs is there (warnings are optional features). */
export function allRequiredOk(results: readonly CheckResult[]): boolean {
  return !results.some((r) => r.status === 'fail');
}

const execFileP = promisify(execFile);

/** `engines.node` of the nearest kvpn package.json above this file (src/ or dist/src/). */
export function kvpnEngines(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; engines?: { node?: string } };
      if (pkg.name === 'kvpn' && pkg.engines?.node) return pkg.engines.node;
    }
    dir = dirname(dir);
  }
  return '>=20.19';
}

export function defaultProbes(): DoctorProbes {
  const resolvConfPath = '/etc/resolv.conf';
  return {
    nodeVersion: process.version,
    engines: kvpnEngines(),
    platform: process.platform,
    async loadTunAddon() {
      const { loadAddon } = await import('../tun/device-linux.js');
      return loadAddon();
    },
    tun: {
      isCharDevice: async (path) => (await stat(path)).isCharacterDevice(),
      async openReadWrite(path) {
        const handle = await open(path, 'r+');
        await handle.close();
      },
      netAdmin: hasNetAdmin(readTextSync('/proc/self/status') ?? ''),
    },
    dns: {
      // detect() only looks (the stub file, `resolvectl status`, resolv.conf); the state dir is never used.
      detect: () => createSystemDns({ stateDir: '/nonexistent/kvpn-doctor', mode: 'auto' }).detect(),
      resolvConfPath,
      readlink: (path) => readlink(path).catch(() => undefined),
      readFile: (path) => readFile(path, 'utf8').catch(() => undefined),
      resolvectlWorks: () =>
        execFileP('resolvectl', ['--no-pager', 'status'], { timeout: 5000 }).then(
          () => true,
          () => false,
        ),
      nameservers: (text) => parseResolvConf(text).nameservers,
    },
    loadClient: (target) => KubeClient.load(target),
    routes: {
      listRoutes: async () => (await routeTable()).listRoutes(),
      apiServerAddresses,
    },
    relay: defaultRelayProbe(),
  };
}

function readTextSync(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
