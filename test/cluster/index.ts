// The test world, programmatic side. A test does:
//
//   const cluster = await startCluster();
//   t.teardown(() => cluster.stop());
//   await cluster.exec('curl', ['-s', `http://${await cluster.serviceIp('echo')}`]); // fails: no kvpn yet
//
// startCluster() creates the laptop namespace, starts the daemon inside it
// and waits until every bootstrap pod is Ready. The Cluster object talks to
// the daemon over its control socket (faults, object reads) and runs
// commands in the laptop namespace. If the test process dies, the daemon
// sees its stdin close and removes the world.
//
// More laptops (real world): `const second = await cluster.addLaptop();`
// then `second.exec(...)`, `kvpnIn(t, cluster, second)`; stop() removes them.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { type KObject, podIsReady } from './apiserver/objects.js';
import { type Addressing, addressing, type IpFamilies } from './ip-families.js';
import type { ContextName } from './kubeconfig.js';
import { NetnsAgent } from './kubelet/netns-agent.js';
import { type ExecOptions, type ExecResult, execInNetns, type Laptop, NetnsLaptop } from './laptop.js';
import { type LaunchOptions, launchWorld } from './launcher.js';
import { run } from './network/shell.js';
import { sweepWorld } from './network/sweep.js';
import { AddedLaptop } from './real/added-laptop.js';
import { RealLayout } from './real/layout.js';
import {
  DEFAULT_CLUSTER_DOMAIN,
  DNS_SERVICE_IP,
  POD_CIDR,
  SERVICE_CIDR,
  UPSTREAM_DNS_IP,
  UPSTREAM_TEST_IP,
  UPSTREAM_TEST_NAME,
  WorldLayout,
  type WorldState,
} from './world-config.js';

export type { ContextName } from './kubeconfig.js';
export type { ExecOptions, ExecResult, Laptop } from './laptop.js';
export type { LaunchOptions as ClusterOptions } from './launcher.js';
export type { AddedLaptop } from './real/added-laptop.js';
export {
  DEFAULT_CLUSTER_DOMAIN,
  DNS_SERVICE_IP,
  POD_CIDR,
  SERVICE_CIDR,
  UPSTREAM_DNS_IP,
  UPSTREAM_TEST_IP,
  UPSTREAM_TEST_NAME,
};

export interface PodNet {
  ip: string;
  netns: string;
  node: number;
  nodeNetns: string;
  pids: number[];
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = KObject>(): T;
}

export async function startCluster(opts: LaunchOptions = {}): Promise<Cluster> {
  const { state, daemon } = await launchWorld({ ...opts, owner: opts.owner ?? 'test' });
  return new Cluster(state, daemon);
}

export class Cluster {
  readonly id: string;
  readonly dir: string;
  readonly kubeconfigPath: string;
  /** The laptop network namespace: where kvpn, curl, psql, dig and the API server live. */
  readonly laptop: Laptop;
  readonly apiServerUrl: string;
  readonly apiServerPort: number;
  readonly serviceCidr = SERVICE_CIDR;
  readonly podCidr = POD_CIDR;
  readonly dnsServiceIp: string;
  /** ipv4 (every stand-in), dual or ipv6 (a real world started so); `addressing` is its plan. */
  readonly ipFamilies: IpFamilies;
  readonly addressing: Addressing;
  /** cluster.local unless the world was started with another (ClusterOptions.clusterDomain). */
  readonly clusterDomain: string;
  readonly upstreamDnsIp = UPSTREAM_DNS_IP;
  /** A name only the laptop's upstream resolver knows, and its address. */
  readonly upstreamTestName = UPSTREAM_TEST_NAME;
  readonly upstreamTestIp = UPSTREAM_TEST_IP;
  readonly state: WorldState;
  /** 'stand-in' (our API server and kubelet) or 'real' (Kubernetes' own components). */
  readonly kind: 'stand-in' | 'real';
  #daemon: ChildProcess | undefined;
  #layout: WorldLayout;
  #agent: NetnsAgent | undefined;
  #stopped: Promise<void> | undefined;
  #addedLaptops: AddedLaptop[] = [];
  #nextLaptop = 2;

  constructor(state: WorldState, daemon?: ChildProcess) {
    this.state = state;
    this.id = state.id;
    this.dir = state.dir;
    this.kubeconfigPath = state.kubeconfig;
    this.laptop = new NetnsLaptop(state.laptopNetns);
    this.apiServerUrl = state.apiServerUrl;
    this.apiServerPort = state.apiServerPort;
    this.clusterDomain = state.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
    this.kind = state.kind ?? 'stand-in';
    this.ipFamilies = state.ipFamilies ?? 'ipv4';
    this.addressing = addressing(this.ipFamilies);
    this.dnsServiceIp = this.addressing.dnsServiceIp;
    this.#daemon = daemon;
    this.#layout = new WorldLayout(state.id, state.dir.slice(0, -state.id.length - 1));
  }

  /** A world started elsewhere (e.g. `npm run cluster -- up`), by its directory. */
  static async attach(dir: string): Promise<Cluster> {
    const state = JSON.parse(await readFile(join(dir, 'world.json'), 'utf8')) as WorldState;
    return new Cluster(state);
  }

  /** /etc/netns/<laptop>/resolv.conf: the laptop's system resolver configuration. */
  get laptopResolvConf(): string {
    return this.laptop.resolvConf;
  }

  // ---- control socket -------------------------------------------------------

  async control<T = unknown>(method: 'GET' | 'POST', path: string, body?: object): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = httpRequest(
        { socketPath: this.#layout.controlSocket, method, path, headers: { 'Content-Type': 'application/json' } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => {
            const v = text ? JSON.parse(text) : undefined;
            if ((res.statusCode ?? 500) >= 400) reject(new Error(`control ${path}: ${v?.error ?? res.statusCode}`));
            else resolve(v as T);
          });
        },
      );
      req.on('error', reject);
      req.end(body ? JSON.stringify(body) : undefined);
    });
  }

  /** Objects straight from the store (no auth): key is "pods", "services", "apps/deployments"… */
  objects(key: string, namespace?: string): Promise<KObject[]> {
    const q = new URLSearchParams({ key, ...(namespace ? { namespace } : { allNamespaces: 'true' }) });
    return this.control('GET', `/objects?${q}`);
  }

  object(key: string, name: string, namespace = 'default'): Promise<KObject | null> {
    return this.control('GET', `/objects?${new URLSearchParams({ key, name, namespace })}`);
  }

  /** Every ClusterIP of a Service, primary family first (both on a dual-stack Service). */
  async serviceIps(name: string, namespace = 'default'): Promise<string[]> {
    const svc = await this.object('services', name, namespace);
    const ips: string[] = svc?.spec?.clusterIPs ?? (svc?.spec?.clusterIP ? [svc.spec.clusterIP] : []);
    if (!ips.length || ips[0] === 'None') throw new Error(`service ${namespace}/${name} has no ClusterIP`);
    return ips;
  }

  async serviceIp(name: string, namespace = 'default'): Promise<string> {
    const svc = await this.object('services', name, namespace);
    if (!svc?.spec?.clusterIP) throw new Error(`service ${namespace}/${name} has no ClusterIP`);
    return svc.spec.clusterIP;
  }

  async podIp(name: string, namespace = 'default'): Promise<string> {
    return (await this.podNet(name, namespace)).ip;
  }

  /** Pod IP, its network namespace (for `ip netns exec`), node and container pids. */
  podNet(name: string, namespace = 'default'): Promise<PodNet> {
    return this.control('GET', `/pod-net?${new URLSearchParams({ name, namespace })}`);
  }

  /** Pods whose labels include all of `labels` (e.g. {app: 'echo'}). */
  async pods(labels: Record<string, string> = {}, namespace?: string): Promise<KObject[]> {
    const all = await this.objects('pods', namespace);
    return all.filter((p) => Object.entries(labels).every(([k, v]) => p.metadata.labels?.[k] === v));
  }

  nodes(): Promise<{ name: string; netns: string; ip: string; podCidr: string }[]> {
    return this.control('GET', '/nodes');
  }

  /** Polls the store until `pred` holds for pod `name` (or throws after timeoutMs). */
  async waitForPod(
    name: string,
    pred: (p: KObject | null) => boolean,
    namespace = 'default',
    timeoutMs = 20_000,
  ): Promise<KObject | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = await this.object('pods', name, namespace);
      if (pred(p)) return p;
      if (Date.now() > deadline)
        throw new Error(
          `pod ${namespace}/${name} did not reach the expected state: ${JSON.stringify(p?.status ?? null)}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits until pod `name` has condition Ready=True; returns it. */
  waitForReadyPod(name: string, namespace = 'default', timeoutMs = 20_000): Promise<KObject | null> {
    return this.waitForPod(name, podIsReady, namespace, timeoutMs);
  }

  /** Names the upstream (laptop) resolver was asked, oldest first. */
  upstreamDnsQueries(): Promise<{ name: string; type: string; rcode: string }[]> {
    return this.control('GET', '/upstream-dns/queries');
  }

  /** "METHOD /path?query" of requests the API server served, oldest first. */
  apiRequests(): Promise<string[]> {
    return this.control('GET', '/apiserver/requests');
  }

  // ---- faults ---------------------------------------------------------------

  /** Kills a pod's container processes (default SIGKILL); they restart per restartPolicy. */
  async killPod(name: string, namespace = 'default', signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.control('POST', '/faults/kill-pod', { name, namespace, signal });
  }

  /** Deletes a pod as the API would (graceful unless gracePeriodSeconds is 0). */
  async deletePod(name: string, namespace = 'default', gracePeriodSeconds?: number): Promise<void> {
    await this.control('POST', '/faults/delete-pod', { name, namespace, gracePeriodSeconds });
  }

  /** Drops every open port-forward connection at once; returns how many. */
  async cutPortForwards(): Promise<number> {
    return (await this.control<{ cut: number }>('POST', '/faults/cut-port-forwards')).cut;
  }

  /** Stops the API server (every connection dropped), waits downMs, starts it on the same port. compact: old resourceVersions answer 410. */
  async restartApiServer(opts: { downMs?: number; compact?: boolean } = {}): Promise<void> {
    await this.control('POST', '/faults/restart-apiserver', opts);
  }

  async stopApiServer(): Promise<void> {
    await this.control('POST', '/faults/stop-apiserver');
  }

  async startApiServer(): Promise<void> {
    await this.control('POST', '/faults/start-apiserver');
  }

  /** Round-trip latency added to new connections to the API server (0 removes it). */
  async setApiLatency(ms: number): Promise<void> {
    await this.control('POST', '/faults/api-latency', { ms });
  }

  /** Random loss (percent, each direction) on the laptop ↔ API server path (0 removes it). */
  async setApiLoss(percent: number): Promise<void> {
    await this.control('POST', '/faults/api-loss', { percent });
  }

  /** Turns the networking.k8s.io/v1 ServiceCIDR API on or off (discovery and requests). */
  async setServiceCidrApi(enabled: boolean): Promise<void> {
    await this.control('POST', '/service-cidr-api', { enabled });
  }

  /** Makes the staging-exec context's credential plugin fail (exit 1) until turned off. */
  async setExecPluginFailing(failing: boolean): Promise<void> {
    const path = join(this.dir, 'exec-credential.fail');
    if (failing) await run('touch', [path]);
    else await run('rm', ['-f', path]);
  }

  /** How many times the exec credential plugin ran. */
  async execPluginCalls(): Promise<number> {
    const text = await readFile(join(this.dir, 'exec-credential.calls'), 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).length;
  }

  // ---- the laptop -----------------------------------------------------------

  /** Runs a command in the laptop namespace (`ip netns exec`, so it sees the laptop's resolv.conf). */
  exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.laptop.exec(cmd, args, opts);
  }

  /** Spawns a long-running process in the laptop namespace. */
  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    return this.laptop.spawn(cmd, args, opts);
  }

  /**
   * Another laptop (real world only): a namespace of its own, linked to the
   * node on a /24 of its own, routed to the API server's address and nothing
   * else, with a system resolver and resolv.conf like the first laptop's
   * (real/added-laptop.ts). For two kvpn sessions at once. stop() removes it.
   */
  async addLaptop(): Promise<AddedLaptop> {
    if (this.kind !== 'real')
      throw new Error(
        "cluster.addLaptop(): real world only (the stand-in's API server listens on the first laptop's 127.0.0.1)",
      );
    if (this.#stopped) throw new Error(`cluster.addLaptop(): world ${this.id} is stopped`);
    const layout = new RealLayout(this.id, this.#layout.dir.slice(0, -this.id.length - 1));
    const laptop = await AddedLaptop.create(layout, this.#nextLaptop++, {
      clusterDomain: this.clusterDomain,
      upstreamProgram: join(this.dir, 'programs', 'laptop-upstream-main.mjs'),
    });
    this.#addedLaptops.push(laptop);
    // A stop() that began while it was being made must not miss it.
    if (this.#stopped) await laptop.remove();
    return laptop;
  }

  /** Runs a command inside a pod's network namespace (host filesystem, pod network). */
  async execInPod(
    pod: string,
    namespace: string,
    cmd: string,
    args: string[],
    opts: { timeoutMs?: number } = {},
  ): Promise<ExecResult> {
    const net = await this.podNet(pod, namespace);
    return execInNetns(net.netns, cmd, args, opts);
  }

  /** The real kubectl, in the laptop namespace, with this world's kubeconfig. */
  kubectl(
    args: string[],
    opts: { context?: ContextName; input?: string; timeoutMs?: number } = {},
  ): Promise<ExecResult> {
    const ctx = opts.context ? ['--context', opts.context] : [];
    return this.exec('kubectl', ['--kubeconfig', this.kubeconfigPath, ...ctx, ...args], {
      input: opts.input,
      timeoutMs: opts.timeoutMs ?? 30_000,
    });
  }

  #laptopAgent(): NetnsAgent {
    this.#agent ??= new NetnsAgent(this.laptop.path, join(this.dir, 'programs', 'agent.mjs'));
    return this.#agent;
  }

  /** A TCP connection opened from inside the laptop namespace (e.g. to the API server). */
  laptopConnect(port: number, host = '127.0.0.1'): Promise<Socket> {
    return this.#laptopAgent().connect(host, port);
  }

  /** A TCP server listening inside the laptop namespace (port 0 = any). */
  laptopListen(port = 0, host = '127.0.0.1'): Promise<Server> {
    return this.#laptopAgent().listen(host, port);
  }

  /** Credentials of a context, for hand-made clients (ws, https). */
  async credentials(context: ContextName): Promise<{ ca: string; token?: string; cert?: string; key?: string }> {
    const pki = join(this.dir, 'pki');
    const ca = await readFile(join(pki, 'ca.crt'), 'utf8');
    const kc = await readFile(this.kubeconfigPath, 'utf8');
    if (context === 'admin') {
      return {
        ca,
        cert: await readFile(join(pki, 'admin.crt'), 'utf8'),
        key: await readFile(join(pki, 'admin.key'), 'utf8'),
      };
    }
    // Every other context carries its token in the kubeconfig; staging-exec asks its plugin.
    if (context !== 'staging-exec') {
      const m = new RegExp(`- name: ${context}\\n {2}user:\\n {4}token: (\\S+)`).exec(kc);
      return { ca, token: m?.[1] };
    }
    const out = await run(join(this.dir, 'exec-credential.sh'), []);
    return { ca, token: (JSON.parse(out) as { status: { token: string } }).status.token };
  }

  /** A TLS connection to the API server from the laptop namespace, authenticated as `context`. */
  async apiSocket(context: ContextName): Promise<{ socket: Socket; token?: string }> {
    const creds = await this.credentials(context);
    // 127.0.0.1 in the stand-in (its API server lives in the laptop namespace), the node's address in the real world.
    const raw = await this.laptopConnect(this.apiServerPort, new URL(this.apiServerUrl).hostname);
    const socket = tlsConnect({
      socket: raw,
      ca: creds.ca,
      cert: creds.cert,
      key: creds.key,
      servername: 'localhost',
      ALPNProtocols: ['http/1.1'],
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    return { socket, token: creds.token };
  }

  /** One HTTPS request to the API server as `context` (default staging). */
  async request(
    method: string,
    path: string,
    opts: { context?: ContextName; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse> {
    const { socket, token } = await this.apiSocket(opts.context ?? 'staging');
    const body =
      opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const headers: Record<string, string> = { Accept: 'application/json', ...(opts.headers ?? {}) };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] ??= 'application/json';
    return new Promise<ApiResponse>((resolve, reject) => {
      const req = httpRequest({ createConnection: () => socket, method, path, headers, host: 'localhost' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          socket.destroy();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text,
            json: <T>() => JSON.parse(text) as T,
          });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /**
   * A streaming request (watch, follow logs): resolves with the response
   * once headers arrive; read it as a stream, `close()` ends it.
   */
  async stream(
    path: string,
    opts: { context?: ContextName; headers?: Record<string, string> } = {},
  ): Promise<{ response: IncomingMessage; close(): void }> {
    const { socket, token } = await this.apiSocket(opts.context ?? 'staging');
    const headers: Record<string, string> = { Accept: 'application/json', ...(opts.headers ?? {}) };
    if (token) headers.Authorization = `Bearer ${token}`;
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { createConnection: () => socket, method: 'GET', path, headers, host: 'localhost' },
        (response) => {
          resolve({
            response,
            close: () => {
              // A reader that gave up should not get an 'aborted' error for it.
              response.on('error', () => {});
              response.destroy();
              socket.destroy();
            },
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  // ---- lifecycle --------------------------------------------------------------

  /** Removes the whole world: pods, namespaces, links, files. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#agent?.close();
      await Promise.all(this.#addedLaptops.map((l) => l.remove()));
      const daemon = this.#daemon;
      if (daemon && daemon.exitCode === null) {
        const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
        await this.control('POST', '/shutdown').catch(() => daemon.kill('SIGTERM'));
        const timer = setTimeout(() => daemon.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      } else if (!daemon) {
        await this.control('POST', '/shutdown').catch(() => undefined);
        for (let i = 0; i < 200 && (await run('ip', ['netns', 'pids', this.laptop.name]).catch(() => '')).trim(); i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await sweepWorld(this.id, this.dir);
    })();
    return this.#stopped;
  }
}
