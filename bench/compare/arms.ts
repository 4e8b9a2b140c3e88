// The systems `npm run bench -- compare` puts between the laptop and the
// cluster, each set up and torn down on its own (the laptop routes of one
// would capture the traffic of the next):
//
//   direct        a veth from the laptop namespace into the nodes' fabric
//                 bridge (as if the laptop sat on the nodes' L2), routes to
//                 the pod /24s via their nodes and to the Service CIDR via
//                 node 0, which masquerades what it DNATs for the laptop
//                 (kube-proxy does the same for traffic from outside the
//                 cluster). No tunnel: the physical ceiling.
//   port-forward  bench/compare/forward.ts: one v4.channel.k8s.io stream
//                 per connection, to a pod (kubectl port-forward's shape).
//   sshuttle      Telepresence 1's vpn-tcp: sshd in a pod, reached through
//                 that same port-forward; `sshuttle -r root@127.0.0.1:PORT
//                 <service CIDR> <pod CIDR>` in the laptop namespace.
//   kvpn          bench/compare/kvpn.ts.
//
// Each arm says where its targets are and which laptop processes are its
// "daemon" (for CPU and RSS).
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Cleanup, stopChild } from './cleanup.js';
import { processTree } from './proc.js';
import { type BenchWorld, type Endpoint, IPERF_PORT, waitForLine } from './world.js';

const ECHO_TCP_PORT = 7;
const ECHO_TCP_TARGET_PORT = 9007;
const ECHO_HTTP_PORT = 80;
const ECHO_HTTP_TARGET_PORT = 8080;
const DIRECT_LINK = 'kvbench0';
const DIRECT_PEER = 'kvbench0f';
const DIRECT_ADDRESS = '172.18.0.250';
const DIRECT_NFT_TABLE = 'kvpn-bench-direct';

export interface Targets {
  iperf: Endpoint;
  echoTcp: Endpoint;
  echoHttp: Endpoint;
  /** More HTTP targets the connections are spread over (port-forward: the second echo pod). */
  echoHttpAlso?: Endpoint[];
}

export interface Arm {
  readonly name: string;
  readonly targets: Targets;
  /** The laptop-side processes of this system (empty for the kernel). */
  pids(): number[];
  stop(): Promise<void>;
  /** What the system said or did worth recording (sshuttle: its exit, the end of its stderr). */
  diagnostics?(): Record<string, unknown>;
}

export function serviceTargets(world: BenchWorld): Targets {
  return {
    iperf: { host: world.iperfIp, port: IPERF_PORT },
    echoTcp: { host: world.echoIp, port: ECHO_TCP_PORT },
    echoHttp: { host: world.echoIp, port: ECHO_HTTP_PORT },
  };
}

export async function startDirect(world: BenchWorld, cleanup: Cleanup): Promise<Arm> {
  const nodes = await world.cluster.nodes();
  const node0 = nodes[0];
  if (!node0) throw new Error('no nodes');
  const fabric = `${world.cluster.id}-fabric`;
  const undoLink = cleanup.add('direct: veth', () =>
    world.laptopRun('ip', ['link', 'del', DIRECT_LINK]).catch(() => {}),
  );
  await world.laptopRun('ip', [
    'link',
    'add',
    DIRECT_LINK,
    'type',
    'veth',
    'peer',
    'name',
    DIRECT_PEER,
    'netns',
    fabric,
  ]);
  await world.nodeRun(fabric, 'ip', ['link', 'set', DIRECT_PEER, 'master', 'br0', 'up']);
  await world.laptopRun('ip', ['addr', 'add', `${DIRECT_ADDRESS}/24`, 'dev', DIRECT_LINK]);
  await world.laptopRun('ip', ['link', 'set', DIRECT_LINK, 'up']);
  // Routes go with the link.
  await world.laptopRun('ip', ['route', 'add', world.cluster.serviceCidr, 'via', node0.ip]);
  for (const n of nodes) await world.laptopRun('ip', ['route', 'add', n.podCidr, 'via', n.ip]);
  const undoNft = cleanup.add('direct: nft table in node 0', () =>
    world.nodeRun(node0.netns, 'nft', ['delete', 'table', 'ip', DIRECT_NFT_TABLE]).catch(() => {}),
  );
  await world.nodeRun(
    node0.netns,
    'nft',
    ['-f', '-'],
    `table ip ${DIRECT_NFT_TABLE} {\n  chain postrouting {\n    type nat hook postrouting priority srcnat + 1; policy accept;\n    ip saddr ${DIRECT_ADDRESS} ct status dnat masquerade\n  }\n}\n`,
  );
  return {
    name: 'direct',
    targets: serviceTargets(world),
    pids: () => [],
    stop: async () => {
      await undoNft();
      await undoLink();
    },
  };
}

export interface Forwarder {
  child: ChildProcess;
  ports: Map<string, number>;
  stop(): Promise<void>;
}

/** bench/compare/forward.ts in the laptop namespace, one local port per `pod:port`. */
export async function startForwarder(world: BenchWorld, cleanup: Cleanup, forwards: string[]): Promise<Forwarder> {
  const args = [world.build.forward, '--kubeconfig', world.cluster.kubeconfigPath, '--context', 'admin'];
  for (const f of forwards) args.push('--forward', f);
  const child = world.laptopSpawn(process.execPath, args);
  const stop = cleanup.process('port-forward bridge', child);
  const ready = await waitForLine(child, /^READY$/m, 30_000).catch(async (err) => {
    await stop();
    throw err;
  });
  const ports = new Map<string, number>();
  for (const m of (ready.input ?? '').matchAll(/^LISTENING (\S+) (\d+)$/gm)) ports.set(m[1] as string, Number(m[2]));
  child.stdout?.resume();
  child.stderr?.resume();
  return { child, ports, stop };
}

export async function startPortForward(world: BenchWorld, cleanup: Cleanup): Promise<Arm> {
  const iperf = `bench-iperf:${IPERF_PORT}`;
  const tcp = `${world.echoPods[0]}:${ECHO_TCP_TARGET_PORT}`;
  // HTTP goes to both echo pods, as through the Service.
  const [http = '', ...httpAlso] = world.echoPods.map((p) => `${p}:${ECHO_HTTP_TARGET_PORT}`);
  const fwd = await startForwarder(world, cleanup, [iperf, tcp, http, ...httpAlso]);
  const local = (k: string): Endpoint => ({ host: '127.0.0.1', port: fwd.ports.get(k) as number });
  return {
    name: 'port-forward',
    targets: { iperf: local(iperf), echoTcp: local(tcp), echoHttp: local(http), echoHttpAlso: httpAlso.map(local) },
    pids: () => (fwd.child.pid ? [fwd.child.pid] : []),
    stop: fwd.stop,
  };
}

export interface SshuttleOptions {
  /** Shown in logs and results (default "sshuttle"). */
  name?: string;
  /** Extra sshuttle flags (none by default: Telepresence 1 ran it with its defaults). */
  extraArgs?: string[];
}

export async function startSshuttle(world: BenchWorld, cleanup: Cleanup, opts: SshuttleOptions = {}): Promise<Arm> {
  const fwd = await startForwarder(world, cleanup, ['bench-sshd:22']);
  const port = fwd.ports.get('bench-sshd:22') as number;
  const cidrs = [world.cluster.serviceCidr, world.cluster.podCidr];
  // sshuttle's REDIRECT rules act after the routing decision: the kernel must
  // have *a* route to the destination (a laptop's default route). This
  // laptop has only lo, so the ranges point at lo for this arm.
  const undoRoutes = cleanup.add('sshuttle: lo routes', async () => {
    for (const c of cidrs) await world.laptopRun('ip', ['route', 'del', c, 'dev', 'lo']).catch(() => {});
  });
  for (const c of cidrs) await world.laptopRun('ip', ['route', 'add', c, 'dev', 'lo', 'src', '127.0.0.1']);
  const key = join(world.sshDir, 'id_ed25519');
  const ssh = `ssh -i ${key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
  const child = world.laptopSpawn('sshuttle', [
    ...(opts.extraArgs ?? []),
    '-r',
    `root@127.0.0.1:${port}`,
    '-e',
    ssh,
    ...cidrs,
  ]);
  const pid = child.pid as number;
  const stopSshuttle = cleanup.add('sshuttle', async () => {
    const tree = processTree(pid);
    // SIGTERM to the client; its firewall helper then removes the iptables
    // rules and exits by itself (so it is given time before any SIGKILL).
    await stopChild(child);
    const alive = (p: number): boolean => existsSync(`/proc/${p}`);
    for (let i = 0; i < 50 && tree.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
    for (const p of tree.filter(alive)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    }
    const rules = await world.laptopRun('iptables-save', ['-t', 'nat']).catch(() => '');
    const chains = [...new Set([...rules.matchAll(/^:(sshuttle-\d+)/gm)].map((m) => m[1] as string))];
    for (const chain of chains) {
      for (const hook of ['OUTPUT', 'PREROUTING']) {
        await world.laptopRun('iptables', ['-t', 'nat', '-D', hook, '-j', chain]).catch(() => {});
      }
      await world.laptopRun('iptables', ['-t', 'nat', '-F', chain]).catch(() => {});
      await world.laptopRun('iptables', ['-t', 'nat', '-X', chain]).catch(() => {});
    }
    if (chains.length)
      throw new Error(`sshuttle left its iptables chains ${chains.join(', ')}; the benchmark removed them`);
  });
  try {
    await waitForLine(child, /Connected to server/, 60_000, 'stderr');
  } catch (err) {
    await stopSshuttle();
    await undoRoutes();
    await fwd.stop();
    throw err;
  }
  child.stdout?.resume();
  let stderrTail = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString('utf8')).slice(-2000);
  });
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    exit = `exited ${signal ?? code}`;
  });
  return {
    name: opts.name ?? 'sshuttle',
    diagnostics: () => ({ running: exit === undefined, ...(exit ? { exit } : {}), stderrTail }),
    targets: serviceTargets(world),
    pids: () => [...processTree(pid), ...(fwd.child.pid ? [fwd.child.pid] : [])],
    stop: async () => {
      try {
        await stopSshuttle();
      } finally {
        await undoRoutes();
        await fwd.stop();
      }
    },
  };
}
