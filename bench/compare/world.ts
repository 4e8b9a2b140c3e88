// The world `npm run bench -- compare` measures in: test/cluster's world
// (laptop namespace, two nodes, echo Service with two pods) plus what the
// comparison needs, created through the API as a user would:
//   bench-iperf  a pod (and Service, port 5201) whose namespace runs one
//                `iperf3 -s -1` per measurement
//   bench-sshd   sshd in a pod (own config, no PAM, root by key only, host
//                key and client key made for this run under the world dir)
// and helpers to run and spawn things in the laptop namespace.
import { type ChildProcess, execFile, type SpawnOptions } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Cluster, startCluster } from '../../test/cluster/index.js';
import type { BenchBuild } from './build.js';
import type { Cleanup } from './cleanup.js';

const execFileP = promisify(execFile);
export const IPERF_PORT = 5201;
/** Raised for this process tree only: 10,000 held connections need more than 20,000 descriptors in places. */
const NOFILE_LIMIT = 65536;

export interface Endpoint {
  host: string;
  port: number;
}

const SSHD_CONFIG = `Port 22
ListenAddress 0.0.0.0
HostKey /tmp/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile /bench-ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
LogLevel ERROR
`;

export class BenchWorld {
  readonly cluster: Cluster;
  /** The kvpn CLI and helpers, built for this run. */
  readonly build: BenchBuild;
  readonly sshDir: string;
  readonly echoIp: string;
  readonly iperfIp: string;
  readonly iperfNetns: string;
  /** The echo Service's pods, for port-forwards (which name a pod, not a Service). */
  readonly echoPods: string[];

  private constructor(
    cluster: Cluster,
    build: BenchBuild,
    info: { echoIp: string; iperfIp: string; iperfNetns: string; echoPods: string[] },
  ) {
    this.cluster = cluster;
    this.build = build;
    this.sshDir = join(cluster.dir, 'bench-ssh');
    this.echoIp = info.echoIp;
    this.iperfIp = info.iperfIp;
    this.iperfNetns = info.iperfNetns;
    this.echoPods = info.echoPods;
  }

  static async start(cleanup: Cleanup, build: BenchBuild): Promise<BenchWorld> {
    await execFileP('prlimit', [`--pid=${process.pid}`, `--nofile=${NOFILE_LIMIT}:${NOFILE_LIMIT}`]).catch(() => {});
    const cluster = await startCluster();
    cleanup.add('test world', () => cluster.stop());
    const sshDir = join(cluster.dir, 'bench-ssh');
    mkdirSync(sshDir, { recursive: true });
    writeFileSync(join(sshDir, 'sshd_config'), SSHD_CONFIG);
    for (const key of ['id_ed25519', 'host_ed25519']) {
      await execFileP('ssh-keygen', [
        '-q',
        '-t',
        'ed25519',
        '-N',
        '',
        '-C',
        `kvpn-bench-${key}`,
        '-f',
        join(sshDir, key),
      ]);
    }
    await execFileP('cp', [join(sshDir, 'id_ed25519.pub'), join(sshDir, 'authorized_keys')]);

    const create = async (path: string, body: object): Promise<void> => {
      const r = await cluster.request('POST', path, { context: 'admin', body });
      if (r.status >= 300) throw new Error(`create ${path}: ${r.status} ${r.body}`);
    };
    const pod = (name: string, container: object, volumes: object[] = []): object => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels: { app: name } },
      spec: { terminationGracePeriodSeconds: 0, containers: [container], volumes },
    });
    await create(
      '/api/v1/namespaces/default/pods',
      pod('bench-iperf', { name: 'iperf', image: 'registry.k8s.io/pause:3.10' }),
    );
    await create('/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'bench-iperf', namespace: 'default' },
      spec: { selector: { app: 'bench-iperf' }, ports: [{ name: 'iperf', port: IPERF_PORT, targetPort: IPERF_PORT }] },
    });
    await create(
      '/api/v1/namespaces/default/pods',
      pod(
        'bench-sshd',
        {
          name: 'sshd',
          image: 'debian:12',
          command: [
            'sh',
            '-c',
            'mkdir -p /run/sshd && cp /bench-ssh/host_ed25519 /tmp/ssh_host_ed25519_key && chmod 600 /tmp/ssh_host_ed25519_key && exec /usr/sbin/sshd -D -e -f /bench-ssh/sshd_config',
          ],
          readinessProbe: { tcpSocket: { port: 22 }, periodSeconds: 1 },
          volumeMounts: [{ name: 'ssh', mountPath: '/bench-ssh', readOnly: true }],
        },
        [{ name: 'ssh', hostPath: { path: sshDir, type: 'Directory' } }],
      ),
    );
    await cluster.waitForReadyPod('bench-iperf');
    await cluster.waitForReadyPod('bench-sshd');
    const echoPods = (await cluster.pods({ app: 'echo' }, 'default')).map((p) => p.metadata.name as string);
    if (echoPods.length === 0) throw new Error('the test world has no echo pod');
    return new BenchWorld(cluster, build, {
      echoIp: await cluster.serviceIp('echo'),
      iperfIp: await cluster.serviceIp('bench-iperf'),
      iperfNetns: (await cluster.podNet('bench-iperf')).netns,
      echoPods,
    });
  }

  /** The test world's daemon: API server stand-in, kubelet, controllers (one process). */
  get apiServerPid(): number {
    return this.cluster.state.daemonPid;
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

  /** A command in the node's namespace. */
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
