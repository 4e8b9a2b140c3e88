// The world `npm run bench -- compare` measures in: a test world
// (test/cluster: the stand-in, or with --world real a real Kubernetes)
// with its laptop namespace and echo Service of two pods, plus what the
// comparison needs, created through the API as a user would:
//   bench-iperf  a pod (and Service, port 5201) whose namespace runs one
//                `iperf3 -s -1` per measurement
//   bench-sshd   sshd in a pod (sshd.ts)
// and helpers to run and spawn things in the laptop namespace.
import { type ChildProcess, execFile, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { type Cluster, startCluster } from '../../test/cluster/index.js';
import type { BenchBuild } from './build.js';
import type { Cleanup } from './cleanup.js';
import { processTree } from './proc.js';
import { prepareSshd } from './sshd.js';

const execFileP = promisify(execFile);
export const IPERF_PORT = 5201;
/** Raised for this process tree only: 10,000 held connections need more than 20,000 descriptors in places. */
const NOFILE_LIMIT = 65536;

/**
 * Tries to raise this process's descriptor limit to NOFILE_LIMIT (the
 * world, its pods, containerd and kvpn inherit it); returns the limit in
 * effect, which stays lower where raising the hard limit is refused (no
 * CAP_SYS_RESOURCE).
 */
async function raiseNofile(): Promise<number> {
  await execFileP('prlimit', [`--pid=${process.pid}`, `--nofile=${NOFILE_LIMIT}:${NOFILE_LIMIT}`]).catch(() => {});
  const limits = readFileSync('/proc/self/limits', 'utf8');
  return Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1] ?? Number.NaN);
}

export type WorldKind = Cluster['kind'];

export interface Endpoint {
  host: string;
  port: number;
}

/**
 * argv that runs `argv` in a network namespace: a name under /run/netns
 * (`ip netns exec`), or a path such as the real world's /proc/PID/ns/net
 * (its pods' namespaces are not named).
 */
export function inNetns(netns: string, argv: string[]): string[] {
  return netns.startsWith('/') ? ['nsenter', `--net=${netns}`, ...argv] : ['ip', 'netns', 'exec', netns, ...argv];
}

export class BenchWorld {
  readonly cluster: Cluster;
  /** The kvpn CLI and helpers, built for this run. */
  readonly build: BenchBuild;
  readonly sshDir: string;
  readonly echoIp: string;
  readonly iperfIp: string;
  /** The bench-iperf pod's network namespace, for inNetns(). */
  readonly iperfNetns: string;
  /** The echo Service's pods, for port-forwards (which name a pod, not a Service). */
  readonly echoPods: string[];
  /**
   * The world's own processes, whose CPU every port-forward byte costs: the
   * stand-in's one daemon (API server, kubelet); the real world's control
   * plane, kubelet, containerd and kube-proxy (its daemon's children).
   */
  readonly worldPids: number[];
  /** The descriptor limit everything here runs under (raiseNofile). */
  readonly nofile: number;

  private constructor(
    cluster: Cluster,
    build: BenchBuild,
    info: { sshDir: string; echoIp: string; iperfIp: string; iperfNetns: string; echoPods: string[]; nofile: number },
  ) {
    this.nofile = info.nofile;
    this.cluster = cluster;
    this.build = build;
    this.sshDir = info.sshDir;
    this.echoIp = info.echoIp;
    this.iperfIp = info.iperfIp;
    this.iperfNetns = info.iperfNetns;
    this.echoPods = info.echoPods;
    const daemon = cluster.state.daemonPid;
    this.worldPids = cluster.kind === 'real' ? processTree(daemon) : [daemon];
  }

  static async start(cleanup: Cleanup, build: BenchBuild, kind: WorldKind = 'stand-in'): Promise<BenchWorld> {
    const nofile = await raiseNofile();
    const cluster = await startCluster({ kind });
    cleanup.add('test world', () => cluster.stop());
    const sshd = await prepareSshd(cluster);

    // Through kubectl: Cluster.request dials the API server on the laptop's
    // loopback, where only the stand-in listens.
    const create = async (body: object): Promise<void> => {
      const r = await cluster.kubectl(['create', '-f', '-'], { context: 'admin', input: JSON.stringify(body) });
      if (r.code !== 0) throw new Error(`kubectl create: exit ${r.code}: ${r.stderr.trim()}`);
    };
    await create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'bench-iperf', namespace: 'default', labels: { app: 'bench-iperf' } },
      spec: {
        terminationGracePeriodSeconds: 0,
        containers: [{ name: 'iperf', image: 'registry.k8s.io/pause:3.10' }],
      },
    });
    await create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'bench-iperf', namespace: 'default' },
      spec: { selector: { app: 'bench-iperf' }, ports: [{ name: 'iperf', port: IPERF_PORT, targetPort: IPERF_PORT }] },
    });
    await create(sshd.pod);
    await cluster.waitForReadyPod('bench-iperf', 'default', 60_000);
    await cluster.waitForReadyPod('bench-sshd', 'default', 60_000);
    const echoPods = (await cluster.pods({ app: 'echo' }, 'default')).map((p) => p.metadata.name as string);
    if (echoPods.length === 0) throw new Error('the test world has no echo pod');
    return new BenchWorld(cluster, build, {
      sshDir: sshd.dir,
      echoIp: await cluster.serviceIp('echo'),
      iperfIp: await cluster.serviceIp('bench-iperf'),
      iperfNetns: (await cluster.podNet('bench-iperf')).netns,
      echoPods,
      nofile,
    });
  }

  /**
   * kubectl as it runs against this world (the client's version after any
   * dispatcher picked one) and, in the real world, its API server, kubelet
   * and container runtime.
   */
  async versions(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const kubectl = await this.cluster.kubectl(['version', '-o', 'json'], { context: 'admin' });
    const v = JSON.parse(kubectl.stdout || '{}') as Record<string, { gitVersion?: string } | undefined>;
    out.kubectl = v.clientVersion?.gitVersion ?? `? (exit ${kubectl.code})`;
    if (this.kind !== 'real') return out;
    out['kube-apiserver'] = v.serverVersion?.gitVersion ?? '?';
    const nodes = await this.cluster.kubectl(['get', 'nodes', '-o', 'json'], { context: 'admin' });
    const info = (JSON.parse(nodes.stdout || '{}') as { items?: { status: { nodeInfo: Record<string, string> } }[] })
      .items?.[0]?.status.nodeInfo;
    out.kubelet = info?.kubeletVersion ?? '?';
    out['container runtime'] = info?.containerRuntimeVersion ?? '?';
    return out;
  }

  get kind(): WorldKind {
    return this.cluster.kind;
  }

  get laptop(): string {
    return this.cluster.laptop.name;
  }

  /** A command in the laptop namespace; throws on a non-zero exit. */
  async laptopRun(cmd: string, args: string[], input?: string): Promise<string> {
    const r = await this.cluster.exec(cmd, args, { input, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** A long-running process in the laptop namespace (`ip netns exec` execs it: the pid is the program's). */
  laptopSpawn(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    return this.cluster.spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
  }

  /** A command in a node's namespace. */
  async nodeRun(netns: string, cmd: string, args: string[], input?: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const child = execFile('ip', ['netns', 'exec', netns, cmd, ...args], (err) => (err ? reject(err) : resolve()));
      child.stdin?.end(input);
    });
  }
}

/** Resolves with the first stdout line matching `re` (or rejects on exit / timeout). */
export function waitForLine(
  child: ChildProcess,
  re: RegExp,
  timeoutMs: number,
  stream: 'stdout' | 'stderr' = 'stdout',
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const source = child[stream];
    const timer = setTimeout(
      () => finish(new Error(`no line matching ${re} within ${timeoutMs} ms: ${text.slice(-500)}`)),
      timeoutMs,
    );
    const onData = (d: Buffer): void => {
      text += d.toString('utf8');
      const m = re.exec(text);
      if (m) finish(undefined, m);
    };
    const onExit = (code: number | null): void =>
      finish(new Error(`exited (${code}) before ${re}: ${text.slice(-500)}`));
    const finish = (err?: Error, m?: RegExpExecArray): void => {
      clearTimeout(timer);
      source?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m as RegExpExecArray);
    };
    source?.on('data', onData);
    child.once('exit', onExit);
  });
}
