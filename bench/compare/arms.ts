// The systems `npm run bench -- compare` puts between the laptop and the
// cluster, each set up and torn down on its own (the laptop routes of one
// would capture the traffic of the next):
//
//   direct        direct.ts: the laptop routed straight into the cluster.
//   kubectl-port-forward  kubectl-forward.ts: `kubectl port-forward` itself.
//   port-forward  bench/compare/forward.ts: one v4.channel.k8s.io stream
//                 per connection, to a pod (kubectl port-forward's shape).
//   sshuttle      Telepresence 1's vpn-tcp: sshd in a pod (sshd.ts), reached
//                 through that same port-forward; `sshuttle -r
//                 root@127.0.0.1:PORT <service CIDR> <pod CIDR>` in the
//                 laptop namespace.
//   kvpn          kvpn.ts.
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
const STDERR_TAIL_CHARS = 2000;

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
  /** Runs before each measurement (kubectl port-forward: its processes started afresh). */
  prepare?(): Promise<void>;
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

/** What a port-forward arm forwards (port-forward names a pod, not a Service), as `pod:port`. */
export interface PodForwards {
  iperf: string;
  echoTcp: string;
  echoHttp: string;
  /** HTTP also goes to the other echo pods, as it would through the Service. */
  echoHttpAlso: string[];
}

export function podForwards(world: BenchWorld): PodForwards {
  const [echoHttp = '', ...echoHttpAlso] = world.echoPods.map((p) => `${p}:${ECHO_HTTP_TARGET_PORT}`);
  return {
    iperf: `bench-iperf:${IPERF_PORT}`,
    echoTcp: `${world.echoPods[0]}:${ECHO_TCP_TARGET_PORT}`,
    echoHttp,
    echoHttpAlso,
  };
}

export function allForwards(f: PodForwards): string[] {
  return [f.iperf, f.echoTcp, f.echoHttp, ...f.echoHttpAlso];
}

/** The arm's targets once each forward has its local port on 127.0.0.1. */
export function forwardedTargets(f: PodForwards, localPort: (forward: string) => number): Targets {
  const local = (k: string): Endpoint => ({ host: '127.0.0.1', port: localPort(k) });
  return {
    iperf: local(f.iperf),
    echoTcp: local(f.echoTcp),
    echoHttp: local(f.echoHttp),
    echoHttpAlso: f.echoHttpAlso.map(local),
  };
}

/** Whether `child` still runs, how it exited, and the end of its stderr, for an arm's diagnostics. */
function watchDiagnostics(child: ChildProcess): () => { running: boolean; exit?: string; stderrTail: string } {
  let stderrTail = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString('utf8')).slice(-STDERR_TAIL_CHARS);
  });
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    exit = `exited ${signal ?? code}`;
  });
  return () => ({ running: exit === undefined, ...(exit ? { exit } : {}), stderrTail });
}

export interface Forwarder {
  child: ChildProcess;
  ports: Map<string, number>;
  /** Whether it is still running, how it exited, the end of its stderr (it prints a stream's failure). */
  diagnostics(): Record<string, unknown>;
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
  const diagnostics = watchDiagnostics(child);
  return { child, ports, diagnostics, stop };
}

export async function startPortForward(world: BenchWorld, cleanup: Cleanup): Promise<Arm> {
  const f = podForwards(world);
  const fwd = await startForwarder(world, cleanup, allForwards(f));
  return {
    name: 'port-forward',
    targets: forwardedTargets(f, (k) => fwd.ports.get(k) as number),
    pids: () => (fwd.child.pid ? [fwd.child.pid] : []),
    diagnostics: fwd.diagnostics,
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
  const diagnostics = watchDiagnostics(child);
  return {
    name: opts.name ?? 'sshuttle',
    diagnostics,
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
