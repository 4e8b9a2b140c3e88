// One pod on one node, from sandbox to removal: network namespace and IP,
// volumes, init containers in order, then the containers with restart
// policy and back-off, probes, the status the API shows, and graceful
// termination (SIGTERM, grace period, SIGKILL, sandbox removed).
import { mkdir, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { type KObject, timestamp } from '../apiserver/objects.js';
import type { Store } from '../apiserver/store.js';
import type { PodNet, WorldNetwork } from '../network/topology.js';
import { podResolvConf } from '../network/topology.js';
import { Container, containerSpecs, type Exit } from './container.js';
import { containerEnv, EnvError, type EnvSources, expand } from './env.js';
import type { EventRecorder } from './events.js';
import { type ImageContext, pullErrorMessage, resolveImage } from './images.js';
import { NetnsAgent } from './netns-agent.js';
import { runProbe } from './probes.js';
import { type MaterializedVolume, materializeVolumes, VolumeError } from './volumes.js';

// biome-ignore lint/suspicious/noExplicitAny: API objects are JSON
type Json = any;

const RETRY_MS = 1000;

export interface PodRuntimeDeps {
  store: Store;
  network: WorldNetwork;
  images: ImageContext;
  agentScript: string;
  nodeAgent(node: number): NetnsAgent;
  nodeName(node: number): string;
  events: EventRecorder;
  env: EnvSources;
  podDir(uid: string): string;
  backoff: { initialMs: number; maxMs: number };
  log(line: string): void;
}

export class PodRuntime {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly node: number;
  #deps: PodRuntimeDeps;
  #pod: KObject;
  #sandbox: PodNet | undefined;
  #containers: Container[] = [];
  #init: Container[] = [];
  #volumes: MaterializedVolume[] = [];
  #terminating = false;
  #destroyed = false;
  #timers = new Set<NodeJS.Timeout>();
  #agent: NetnsAgent | undefined;
  #startTime = timestamp();
  #initDone = false;
  #sandboxReady = false;

  constructor(pod: KObject, node: number, deps: PodRuntimeDeps) {
    this.#pod = pod;
    this.uid = pod.metadata.uid ?? '';
    this.namespace = pod.metadata.namespace ?? 'default';
    this.name = pod.metadata.name ?? '';
    this.node = node;
    this.#deps = deps;
    const specs = containerSpecs(pod);
    this.#init = specs.init.map((s: Json) => new Container(s, true));
    this.#containers = specs.main.map((s: Json) => new Container(s, false));
  }

  get podIp(): string | undefined {
    return this.#sandbox?.ip;
  }
  get netns(): string | undefined {
    return this.#sandbox?.netns;
  }
  get dir(): string {
    return this.#deps.podDir(this.uid);
  }
  containers(): Container[] {
    return [...this.#init, ...this.#containers];
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#destroyed) fn();
    }, ms);
    this.#timers.add(t);
  }

  async start(): Promise<void> {
    const spec = this.#pod.spec ?? {};
    const hostname = spec.hostname ?? this.name;
    this.#sandbox = await this.#deps.network.addPod(this.node, this.name, this.namespace, hostname, spec.subdomain);
    if (this.#destroyed) return;
    await mkdir(join(this.dir, 'logs'), { recursive: true });
    await writeFile(join(this.dir, 'resolv.conf'), podResolvConf(this.namespace, this.#deps.network.clusterDomain));
    await writeFile(join(this.dir, 'hosts'), `127.0.0.1\tlocalhost\n${this.#sandbox.ip}\t${hostname}\n`);
    this.#sandboxReady = true;
    this.#publish();
    await this.#mountVolumes();
  }

  async #mountVolumes(): Promise<void> {
    if (this.#terminating || this.#destroyed) return;
    try {
      this.#volumes = await materializeVolumes(this.#currentPod(), this.dir, this.#deps.env);
    } catch (err) {
      if (!(err instanceof VolumeError)) throw err;
      const vol = (this.#pod.spec?.volumes ?? [])[0]?.name ?? '';
      this.#deps.events.record(
        this.#pod,
        'Warning',
        'FailedMount',
        `MountVolume.SetUp failed for volume "${vol}" : ${err.message}`,
        'kubelet',
        this.#deps.nodeName(this.node),
      );
      this.#later(RETRY_MS * 2, () => void this.#mountVolumes());
      return;
    }
    this.#runInit(0);
  }

  #currentPod(): KObject {
    return this.#deps.store.get('pods', this.namespace, this.name) ?? this.#pod;
  }

  #runInit(i: number): void {
    const c = this.#init[i];
    if (!c) {
      this.#initDone = true;
      for (const m of this.#containers) void this.#startContainer(m);
      this.#publish();
      return;
    }
    void this.#startContainer(c, (exit) => {
      if (exit.exitCode === 0) this.#runInit(i + 1);
    });
  }

  async #startContainer(c: Container, onInitExit?: (e: Exit) => void): Promise<void> {
    if (this.#terminating || this.#destroyed || !this.#sandbox) return;
    const deps = this.#deps;
    const pod = this.#currentPod();
    const host = deps.nodeName(this.node);
    const image = resolveImage(c.spec.image, deps.images);
    if (!image) {
      c.setWaiting('ErrImagePull', pullErrorMessage(c.spec.image));
      deps.events.record(pod, 'Normal', 'Pulling', `Pulling image "${c.spec.image}"`, 'kubelet', host);
      deps.events.record(
        pod,
        'Warning',
        'Failed',
        `Failed to pull image "${c.spec.image}": ${pullErrorMessage(c.spec.image)}`,
        'kubelet',
        host,
      );
      this.#publish();
      this.#later(RETRY_MS, () => {
        c.setWaiting('ImagePullBackOff', `Back-off pulling image "${c.spec.image}"`);
        deps.events.record(pod, 'Normal', 'BackOff', `Back-off pulling image "${c.spec.image}"`, 'kubelet', host);
        this.#publish();
        this.#later(RETRY_MS * 10, () => void this.#startContainer(c, onInitExit));
      });
      return;
    }
    c.imageId = image.imageId;
    c.image = image.ref;
    let env: Record<string, string>;
    try {
      env = containerEnv(pod, c.spec, image.env, deps.env);
    } catch (err) {
      if (!(err instanceof EnvError)) throw err;
      c.setWaiting('CreateContainerConfigError', err.message);
      deps.events.record(pod, 'Warning', 'Failed', `Error: ${err.message}`, 'kubelet', host);
      this.#publish();
      this.#later(RETRY_MS * 2, () => void this.#startContainer(c, onInitExit));
      return;
    }
    const entry = (c.spec.command as string[] | undefined) ?? image.entrypoint;
    const args = (c.spec.command ? (c.spec.args ?? []) : (c.spec.args ?? image.cmd)) as string[];
    const argv = [...entry, ...args].map((a) => expand(String(a), env));
    if (argv.length === 0) {
      c.setWaiting('CreateContainerError', 'no command specified');
      this.#publish();
      return;
    }
    const sc = { ...(pod.spec?.securityContext ?? {}), ...(c.spec.securityContext ?? {}) };
    const mounts = (c.spec.volumeMounts ?? []).flatMap((m: Json) => {
      const v = this.#volumes.find((x) => x.name === m.name);
      return v
        ? [{ source: v.hostPath, path: m.mountPath, readOnly: v.readOnly || !!m.readOnly, subPath: m.subPath }]
        : [];
    });
    deps.events.record(
      pod,
      'Normal',
      'Pulled',
      `Container image "${c.spec.image}" already present on machine`,
      'kubelet',
      host,
    );
    try {
      await c.start(
        this.dir,
        this.#sandbox.netns,
        {
          hostname: pod.spec?.hostname ?? this.name,
          resolvConf: join(this.dir, 'resolv.conf'),
          hostsFile: join(this.dir, 'hosts'),
          mounts,
          hostBinds: image.hostBinds,
          rootBinds: image.rootBinds,
          env,
          argv,
          workingDir: c.spec.workingDir,
          runAsUser: sc.runAsUser,
          runAsGroup: sc.runAsGroup,
          readOnlyRootFilesystem: !!sc.readOnlyRootFilesystem,
          dropAllCapabilities: (sc.capabilities?.drop ?? []).includes('ALL'),
          noNewPrivileges: sc.allowPrivilegeEscalation === false,
        },
        (exit) => this.#onExit(c, exit, onInitExit),
      );
    } catch (err) {
      c.setWaiting('RunContainerError', String((err as Error).message));
      this.#publish();
      return;
    }
    deps.events.record(pod, 'Normal', 'Created', `Created container ${c.name}`, 'kubelet', host);
    deps.events.record(pod, 'Normal', 'Started', `Started container ${c.name}`, 'kubelet', host);
    if (!c.init) this.#probeLoop(c, c.restartCount);
    this.#publish();
  }

  #probeLoop(c: Container, instance: number): void {
    const readiness = c.spec.readinessProbe;
    const liveness = c.spec.livenessProbe;
    if (!readiness) c.ready = true;
    const target = () => ({
      podIp: this.podIp ?? '',
      podNetns: this.netns ?? '',
      container: c.spec,
      nodeAgent: this.#deps.nodeAgent(this.node),
    });
    if (readiness) {
      const tick = async (): Promise<void> => {
        if (!c.running || c.restartCount !== instance || this.#terminating) return;
        const ok = await runProbe(readiness, target());
        if (!c.running || c.restartCount !== instance) return;
        if (ok !== c.ready) {
          c.ready = ok;
          this.#publish();
        }
        this.#later((readiness.periodSeconds ?? 10) * 1000, () => void tick());
      };
      this.#later((readiness.initialDelaySeconds ?? 0) * 1000, () => void tick());
    }
    if (liveness) {
      let failures = 0;
      const tick = async (): Promise<void> => {
        if (!c.running || c.restartCount !== instance || this.#terminating) return;
        const ok = await runProbe(liveness, target());
        failures = ok ? 0 : failures + 1;
        if (failures >= (liveness.failureThreshold ?? 3)) {
          this.#deps.events.record(
            this.#pod,
            'Normal',
            'Killing',
            `Container ${c.name} failed liveness probe, will be restarted`,
            'kubelet',
            this.#deps.nodeName(this.node),
          );
          c.signal('SIGKILL');
          return;
        }
        this.#later((liveness.periodSeconds ?? 10) * 1000, () => void tick());
      };
      this.#later((liveness.initialDelaySeconds ?? 0) * 1000, () => void tick());
    }
  }

  #onExit(c: Container, exit: Exit, onInitExit?: (e: Exit) => void): void {
    if (this.#destroyed) return;
    if (this.#terminating) {
      this.#publish();
      return;
    }
    const policy: string = this.#pod.spec?.restartPolicy ?? 'Always';
    const restart = c.init
      ? exit.exitCode !== 0 && policy !== 'Never'
      : policy === 'Always' || (policy === 'OnFailure' && exit.exitCode !== 0);
    if (restart) {
      const delay =
        c.restartCount === 0
          ? 0
          : Math.min(this.#deps.backoff.maxMs, this.#deps.backoff.initialMs * 2 ** (c.restartCount - 1));
      c.prepareRestart();
      if (delay > 0) {
        c.setWaiting(
          'CrashLoopBackOff',
          `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.name} pod=${this.name}_${this.namespace}(${this.uid})`,
        );
      }
      this.#publish();
      this.#later(delay, () => void this.#startContainer(c, onInitExit));
      return;
    }
    this.#publish();
    onInitExit?.(exit);
  }

  /** Fault: kill a container's processes, as an OOM kill or crash would. */
  kill(signal: NodeJS.Signals = 'SIGKILL', container?: string): boolean {
    const targets = this.#containers.filter((c) => c.running && (container === undefined || c.name === container));
    for (const c of targets) c.signal(signal);
    return targets.length > 0;
  }

  /** Graceful stop: SIGTERM, then SIGKILL after the grace period. Resolves when all exited. */
  async terminate(graceSeconds: number): Promise<void> {
    if (this.#terminating) return;
    this.#terminating = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const running = this.containers().filter((c) => c.running);
    for (const c of running) {
      this.#deps.events.record(
        this.#pod,
        'Normal',
        'Killing',
        `Stopping container ${c.name}`,
        'kubelet',
        this.#deps.nodeName(this.node),
      );
      c.signal('SIGTERM');
    }
    const all = Promise.all(running.map((c) => c.exited));
    const killer = setTimeout(() => {
      for (const c of running) c.signal('SIGKILL');
    }, graceSeconds * 1000);
    await all;
    clearTimeout(killer);
  }

  /** Immediate removal: kill everything, delete the sandbox. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#terminating = true;
    this.#destroyed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const c of this.containers()) c.signal('SIGKILL');
    this.#agent?.close();
    if (this.#sandbox) await this.#deps.network.removePod(this.#sandbox);
    for (const c of this.containers()) c.log?.end();
  }

  /** A TCP connection to 127.0.0.1:port inside the pod, for port-forward. */
  async dial(port: number): Promise<Socket> {
    if (!this.#sandbox) throw new Error('pod sandbox is not ready');
    this.#agent ??= new NetnsAgent(`/run/netns/${this.#sandbox.netns}`, this.#deps.agentScript);
    return this.#agent.connect('127.0.0.1', port);
  }

  #phase(): string {
    const policy: string = this.#pod.spec?.restartPolicy ?? 'Always';
    if (this.#init.some((c) => c.state.terminated && c.state.terminated.exitCode !== 0) && policy === 'Never')
      return 'Failed';
    if (!this.#initDone) return 'Pending';
    let waiting = 0;
    let running = 0;
    let stopped = 0;
    let succeeded = 0;
    for (const c of this.#containers) {
      if (c.state.running) running++;
      else if (c.state.terminated) {
        stopped++;
        if (c.state.terminated.exitCode === 0) succeeded++;
      } else if (c.lastState.terminated) stopped++;
      else waiting++;
    }
    if (waiting > 0) return 'Pending';
    if (running > 0) return 'Running';
    if (stopped > 0) {
      if (policy === 'Always') return 'Running';
      if (policy === 'OnFailure') return stopped === succeeded ? 'Succeeded' : 'Running';
      return stopped === succeeded ? 'Succeeded' : 'Failed';
    }
    return 'Pending';
  }

  #publish(): void {
    if (this.#destroyed) return;
    const now = timestamp();
    const phase = this.#phase();
    const terminal = phase === 'Succeeded' || phase === 'Failed';
    const containersReady = !terminal && this.#containers.every((c) => c.ready && c.running);
    const initialized = this.#initDone || this.#init.length === 0;
    const sandbox = this.#sandbox;
    this.#deps.store.mutate('pods', this.namespace, this.name, (p) => {
      const old: Json[] = p.status?.conditions ?? [];
      const cond = (type: string, ok: boolean, reason?: string): Json => {
        const status = ok ? 'True' : 'False';
        const prev = old.find((c) => c.type === type);
        const out: Json = {
          type,
          status,
          lastProbeTime: null,
          lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : now,
        };
        if (!ok && reason) out.reason = reason;
        return out;
      };
      const status: Json = {
        phase,
        conditions: [
          cond('PodReadyToStartContainers', this.#sandboxReady && !terminal),
          cond('Initialized', initialized, 'ContainersNotInitialized'),
          cond('Ready', containersReady, terminal ? 'PodCompleted' : 'ContainersNotReady'),
          cond('ContainersReady', containersReady, terminal ? 'PodCompleted' : 'ContainersNotReady'),
          cond('PodScheduled', true),
        ],
        hostIP: this.#deps.network.nodes[this.node]?.ip,
        hostIPs: [{ ip: this.#deps.network.nodes[this.node]?.ip }],
        startTime: p.status?.startTime ?? this.#startTime,
        containerStatuses: this.#containers.map((c) => c.status()),
        qosClass: p.status?.qosClass ?? 'BestEffort',
      };
      if (this.#init.length) status.initContainerStatuses = this.#init.map((c) => c.status());
      if (sandbox) {
        status.podIP = sandbox.ip;
        status.podIPs = [{ ip: sandbox.ip }];
      }
      p.status = status;
    });
  }
}
