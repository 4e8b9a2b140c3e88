// npm run cluster -- up | down [--all] [ID...] | status
//
// `up` starts a world that outlives this command and prints a summary plus
// the lines KUBECONFIG=<path> and LAPTOP_NETNS=<name> (eval-friendly).
// `down` removes the worlds started with `up` and any crashed world's
// leftovers; `--all` also removes worlds that tests are running; IDs name
// worlds explicitly.
import { parseArgs } from 'node:util';
import { Cluster } from './index.js';
import { isIpFamilies } from './ip-families.js';
import { launchWorld, listWorlds } from './launcher.js';
import { sweepWorld } from './network/sweep.js';

function usage(): never {
  process.stderr.write(
    'usage: npm run cluster -- up [--real [--ip-family ipv4|dual|ipv6]] [--nodes N] [--no-service-cidr-api] [--cluster-domain D] | down [--all] [ID...] | status\n',
  );
  process.exit(2);
}

async function up(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      nodes: { type: 'string', default: '2' },
      'no-service-cidr-api': { type: 'boolean', default: false },
      'cluster-domain': { type: 'string' },
      real: { type: 'boolean', default: false },
      'ip-family': { type: 'string', default: 'ipv4' },
    },
  });
  const ipFamilies = values['ip-family'] ?? 'ipv4';
  if (!isIpFamilies(ipFamilies)) usage();
  if (values.real) process.stderr.write('starting a real Kubernetes world (builds its components first if needed)\n');
  const t0 = performance.now();
  const { state, daemon } = await launchWorld({
    owner: 'cli',
    ...(values.real ? { kind: 'real' as const, build: true } : {}),
    nodes: Number(values.nodes),
    ipFamilies,
    serviceCidrApi: !values['no-service-cidr-api'],
    ...(values['cluster-domain'] ? { clusterDomain: values['cluster-domain'] } : {}),
  });
  daemon.stdout?.destroy();
  daemon.unref();
  const c = new Cluster(state);
  const pods = await c.objects('pods');
  const services = await c.objects('services');
  const lines = [
    `${state.kind === 'real' ? 'real Kubernetes' : 'test'} world ${state.id} is up in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    `  API server   ${state.apiServerUrl} (inside the laptop namespace)`,
    `  IP families  ${state.ipFamilies ?? 'ipv4'}`,
    `  domain       ${state.clusterDomain} (e.g. echo.default.svc.${state.clusterDomain})`,
    `  contexts     staging (namespace default, token: docs/rbac.md's minimal Role), staging-exec (the same, exec plugin),`,
    `               staging-reader (minimal Role + optional reads), admin (client cert),`,
    `               no-portforward (ServiceAccount token, both Roles of docs/rbac.md but pods/portforward)`,
    `  pods         ${pods.map((p) => `${p.metadata.namespace}/${p.metadata.name} ${p.status?.podIPs?.map((i: { ip: string }) => i.ip).join('+') ?? p.status?.podIP}`).join(', ')}`,
    `  services     ${services.map((s) => `${s.metadata.namespace}/${s.metadata.name} ${s.spec?.clusterIPs?.join('+') ?? s.spec?.clusterIP ?? s.spec?.externalName}`).join(', ')}`,
    `  try          sudo ip netns exec ${state.laptopNetns} kubectl --kubeconfig ${state.kubeconfig} get pods -A`,
    `  remove with  npm run cluster -- down`,
    `KUBECONFIG=${state.kubeconfig}`,
    `LAPTOP_NETNS=${state.laptopNetns}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function down(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { all: { type: 'boolean', default: false } },
  });
  const worlds = await listWorlds();
  let removed = 0;
  for (const w of worlds) {
    const named = positionals.includes(w.id);
    const pick = named || values.all || (positionals.length === 0 && (!w.alive || w.state?.owner === 'cli'));
    if (!pick) continue;
    if (w.alive && w.state) await new Cluster(w.state).stop();
    const { netns } = await sweepWorld(w.id, w.dir);
    process.stdout.write(
      `removed world ${w.id}${w.alive ? '' : ' (leftovers)'}${netns ? ` (${netns} namespaces swept)` : ''}\n`,
    );
    removed++;
  }
  if (removed === 0) process.stdout.write('no test world to remove\n');
}

async function status(): Promise<void> {
  const worlds = await listWorlds();
  if (worlds.length === 0) process.stdout.write('no test worlds\n');
  for (const w of worlds) {
    process.stdout.write(
      `${w.id} ${w.state?.kind ?? 'stand-in'} ${w.alive ? 'running' : 'dead (run down)'} owner=${w.state?.owner ?? '?'} ${w.state?.apiServerUrl ?? ''} ${w.state?.kubeconfig ?? ''}\n`,
    );
  }
}

const [cmd, ...rest] = process.argv.slice(2);
try {
  if (cmd === 'up') await up(rest);
  else if (cmd === 'down') await down(rest);
  else if (cmd === 'status') await status();
  else usage();
  process.exit(0);
} catch (err) {
  process.stderr.write(`cluster ${cmd}: ${(err as Error)?.message ?? err}\n`);
  process.exit(1);
}
