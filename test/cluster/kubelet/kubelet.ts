// The kubelet of every node at once: registers the Nodes, runs a PodRuntime
// for each pod bound to a node, carries out graceful deletion, and serves
// logs and port-forward connections for the API server.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import os from 'node:os';
import type { KObject, StoreEvent } from '../apiserver/objects.js';
import { ApiError, badRequest } from '../apiserver/status.js';
import type { Store } from '../apiserver/store.js';
import { K8S_VERSION } from '../world-config.js';
import { formatLine, type LogLine, readLog } from './logs.js';
import { NetnsAgent } from './netns-agent.js';
import { PodRuntime, type PodRuntimeDeps } from './pod-runtime.js';

export class Kubelet {
  #deps: PodRuntimeDeps;
  #store: Store;
  #pods = new Map<string, PodRuntime>();
  #nodeAgents = new Map<number, NetnsAgent>();
  #unsubscribe: (() => void) | undefined;
  #terminating = new Set<string>();
  #stopping = false;

  constructor(store: Store, deps: Omit<PodRuntimeDeps, 'nodeAgent'>) {
    this.#store = store;
    this.#deps = { ...deps, nodeAgent: (n) => this.#nodeAgent(n) };
  }

  #nodeAgent(n: number): NetnsAgent {
    let a = this.#nodeAgents.get(n);
    if (!a) {
      a = new NetnsAgent(`/run/netns/${this.#deps.network.nodes[n]?.netns}`, this.#deps.agentScript);
      this.#nodeAgents.set(n, a);
    }
    return a;
  }

  registerNodes(): void {
    for (const n of this.#deps.network.nodes) {
      const name = this.#deps.nodeName(n.index);
      this.#store.create('nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          labels: {
            'kubernetes.io/hostname': name,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'beta.kubernetes.io/os': 'linux',
            'beta.kubernetes.io/arch': 'amd64',
            ...(n.index === 0 ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
          },
          annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
        },
        spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr], providerID: `kvpn://${name}` },
        status: {
          capacity: { cpu: String(os.cpus().length), memory: `${Math.floor(os.totalmem() / 1024)}Ki`, pods: '110' },
          allocatable: { cpu: String(os.cpus().length), memory: `${Math.floor(os.totalmem() / 1024)}Ki`, pods: '110' },
          conditions: [
            {
              type: 'MemoryPressure',
              status: 'False',
              reason: 'KubeletHasSufficientMemory',
              message: 'kubelet has sufficient memory available',
            },
            {
              type: 'DiskPressure',
              status: 'False',
              reason: 'KubeletHasNoDiskPressure',
              message: 'kubelet has no disk pressure',
            },
            {
              type: 'PIDPressure',
              status: 'False',
              reason: 'KubeletHasSufficientPID',
              message: 'kubelet has sufficient PID available',
            },
            { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
          ].map((c) => ({
            ...c,
            lastHeartbeatTime: `${new Date().toISOString().slice(0, 19)}Z`,
            lastTransitionTime: `${new Date().toISOString().slice(0, 19)}Z`,
          })),
          addresses: [
            { type: 'InternalIP', address: n.ip },
            { type: 'Hostname', address: name },
          ],
          nodeInfo: {
            kubeletVersion: K8S_VERSION.gitVersion,
            kubeProxyVersion: K8S_VERSION.gitVersion,
            osImage: 'Debian GNU/Linux 12 (bookworm)',
            kernelVersion: os.release(),
            containerRuntimeVersion: 'containerd://1.7.24',
            operatingSystem: 'linux',
            architecture: 'amd64',
          },
        },
      });
    }
  }

  start(): void {
    this.#unsubscribe = this.#store.subscribe((e) => this.#onEvent(e));
    for (const p of this.#store.list('pods')) this.#sync(p);
  }

  #nodeIndex(nodeName: string | undefined): number {
    return this.#deps.network.nodes.findIndex((n) => this.#deps.nodeName(n.index) === nodeName);
  }

  #onEvent(e: StoreEvent): void {
    if (e.key !== 'pods' || this.#stopping) return;
    if (e.type === 'DELETED') {
      const rt = this.#pods.get(e.object.metadata.uid ?? '');
      if (rt) {
        this.#pods.delete(rt.uid);
        void rt.destroy();
      }
      return;
    }
    this.#sync(e.object);
  }

  #sync(pod: KObject): void {
    const uid = pod.metadata.uid ?? '';
    const node = this.#nodeIndex(pod.spec?.nodeName);
    if (node < 0) return;
    let rt = this.#pods.get(uid);
    if (!rt) {
      if (pod.metadata.deletionTimestamp) {
        this.#removeObject(pod);
        return;
      }
      rt = new PodRuntime(pod, node, this.#deps);
      this.#pods.set(uid, rt);
      const started = rt;
      started
        .start()
        .catch((err) =>
          this.#deps.log(`pod ${started.namespace}/${started.name} failed to start: ${err?.stack ?? err}`),
        );
    }
    if (pod.metadata.deletionTimestamp && !this.#terminating.has(uid)) {
      this.#terminating.add(uid);
      const grace = pod.metadata.deletionGracePeriodSeconds ?? 30;
      const dying = rt;
      void dying.terminate(grace).then(async () => {
        this.#pods.delete(uid);
        this.#terminating.delete(uid);
        await dying.destroy();
        this.#removeObject(pod);
      });
    }
  }

  #removeObject(pod: KObject): void {
    const cur = this.#store.get('pods', pod.metadata.namespace, pod.metadata.name ?? '');
    if (cur && cur.metadata.uid === pod.metadata.uid) {
      try {
        this.#store.remove('pods', pod.metadata.namespace, pod.metadata.name ?? '');
      } catch {}
    }
  }

  runtimeFor(pod: KObject): PodRuntime | undefined {
    return this.#pods.get(pod.metadata.uid ?? '');
  }

  runtimes(): PodRuntime[] {
    return [...this.#pods.values()];
  }

  async dial(pod: KObject, port: number): Promise<Socket> {
    const rt = this.runtimeFor(pod);
    if (!rt) throw new Error(`pod ${pod.metadata.name} has no sandbox on this node`);
    return rt.dial(port);
  }

  async logs(pod: KObject, q: URLSearchParams, res: ServerResponse): Promise<void> {
    const rt = this.runtimeFor(pod);
    const names: string[] = (pod.spec?.containers ?? []).map((c: { name: string }) => c.name);
    const initNames: string[] = (pod.spec?.initContainers ?? []).map((c: { name: string }) => c.name);
    let name = q.get('container') ?? undefined;
    if (name === undefined) {
      if (names.length !== 1) {
        throw badRequest(
          `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`,
        );
      }
      name = names[0];
    }
    if (!names.includes(name ?? '') && !initNames.includes(name ?? '')) {
      throw badRequest(`container ${name} is not valid for pod ${pod.metadata.name}`);
    }
    const c = rt?.containers().find((x) => x.name === name);
    const previous = q.get('previous') === 'true';
    if (!c || (!c.log && !previous)) {
      throw badRequest(`container "${name}" in pod "${pod.metadata.name}" is waiting to start: ContainerCreating`);
    }
    const path = previous ? c.previousLogPath : c.log?.path;
    if (!path) throw badRequest(`previous terminated container "${name}" in pod "${pod.metadata.name}" not found`);
    const query = {
      tailLines: q.has('tailLines') ? Number(q.get('tailLines')) : undefined,
      timestamps: q.get('timestamps') === 'true',
      follow: q.get('follow') === 'true' && !previous,
      limitBytes: q.has('limitBytes') ? Number(q.get('limitBytes')) : undefined,
      sinceSeconds: q.has('sinceSeconds') ? Number(q.get('sinceSeconds')) : undefined,
    };
    const log = c.log;
    const live: LogLine[] = [];
    const onLine = (l: LogLine): void => void live.push(l);
    if (query.follow && log && !log.ended) log.on('line', onLine);
    const lines = await readLog(path, query);
    res.writeHead(200, {
      'Content-Type': 'text/plain',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    let budget = query.limitBytes ?? Number.POSITIVE_INFINITY;
    const emit = (l: LogLine): boolean => {
      const text = formatLine(l, query.timestamps);
      if (budget <= 0) return false;
      const out = Buffer.from(text).subarray(0, budget);
      budget -= out.length;
      res.write(out);
      return budget > 0;
    };
    const lastTime = lines[lines.length - 1]?.time ?? '';
    for (const l of lines) if (!emit(l)) break;
    if (!query.follow || !log || log.ended || budget <= 0) {
      log?.off('line', onLine);
      res.end();
      return;
    }
    log.off('line', onLine);
    for (const l of live) if (l.time > lastTime) emit(l);
    const follow = (l: LogLine): void => {
      if (!emit(l)) done();
    };
    const done = (): void => {
      log.off('line', follow);
      log.off('end', done);
      if (!res.writableEnded) res.end();
    };
    log.on('line', follow);
    log.on('end', done);
    res.on('close', done);
  }

  /** Fault: kill a pod's containers (they restart per restartPolicy). */
  killPod(namespace: string, name: string, signal: NodeJS.Signals): boolean {
    const rt = [...this.#pods.values()].find((p) => p.namespace === namespace && p.name === name);
    if (!rt) throw new ApiError(404, 'NotFound', `pods "${name}" not found`);
    return rt.kill(signal);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#unsubscribe?.();
    await Promise.all([...this.#pods.values()].map((p) => p.destroy()));
    this.#pods.clear();
    for (const a of this.#nodeAgents.values()) a.close();
    this.#nodeAgents.clear();
  }
}
