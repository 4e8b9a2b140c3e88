// One test world, assembled inside the daemon process (which runs in the
// laptop network namespace): network, PKI, store and API server,
// controllers, kubelet, the laptop's upstream resolver, and the faults.

import { chmod, mkdir, readFile } from 'node:fs/promises';
import { Admission } from './apiserver/admission.js';
import { Authenticator } from './apiserver/auth.js';
import { type KObject, podIsReady } from './apiserver/objects.js';
import { ResourceTable } from './apiserver/resources.js';
import { Rest } from './apiserver/rest.js';
import { ApiServer } from './apiserver/server.js';
import { Store } from './apiserver/store.js';
import { DnsZoneWriter } from './controllers/dns-zone-writer.js';
import { EndpointsController } from './controllers/endpoints.js';
import { GarbageCollector } from './controllers/garbage.js';
import { KubeProxy } from './controllers/kube-proxy.js';
import { Scheduler } from './controllers/scheduler.js';
import { WorkloadController } from './controllers/workloads.js';
import { ApiPathFaults } from './faults/api-path.js';
import { newCredentials, writeKubeconfig } from './kubeconfig.js';
import { EventRecorder } from './kubelet/events.js';
import { Kubelet } from './kubelet/kubelet.js';
import { ensurePgTemplate } from './kubelet/postgres-template.js';
import { kubernetesEndpoints, worldManifests } from './manifests.js';
import { LaptopUpstream } from './network/laptop-upstream.js';
import { sweepWorld } from './network/sweep.js';
import { WorldNetwork } from './network/topology.js';
import { createPki } from './pki.js';
import { buildPrograms } from './programs/build.js';
import { SERVICE_CIDR, type WorldLayout, type WorldState } from './world-config.js';

export interface WorldOptions {
  nodes: number;
  serviceCidrApi: boolean;
  restartBackoffMs: number;
  /** Every name in the world ends with it (cluster DNS zone, pod resolv.conf, certificates). */
  clusterDomain: string;
  owner: 'cli' | 'test';
  readyTimeoutMs: number;
}

export class World {
  readonly layout: WorldLayout;
  readonly opts: WorldOptions;
  readonly store = new Store();
  readonly network: WorldNetwork;
  readonly admission = new Admission(SERVICE_CIDR);
  #serviceCidrApi: boolean;
  readonly table: ResourceTable;
  readonly rest: Rest;
  readonly events: EventRecorder;
  apiServer: ApiServer | undefined;
  kubelet: Kubelet | undefined;
  kubeProxy: KubeProxy | undefined;
  faults: ApiPathFaults | undefined;
  readonly upstream = new LaptopUpstream();
  #controllers: { stop(): void }[] = [];
  #stopped = false;
  readonly log: (line: string) => void;

  constructor(layout: WorldLayout, opts: WorldOptions, log: (line: string) => void) {
    this.layout = layout;
    this.opts = opts;
    this.log = log;
    this.#serviceCidrApi = opts.serviceCidrApi;
    this.network = new WorldNetwork(layout, opts.nodes, opts.clusterDomain);
    this.table = new ResourceTable((r) => r.resource !== 'servicecidrs' || this.#serviceCidrApi);
    this.rest = new Rest(this.store, this.admission);
    this.events = new EventRecorder(this.store);
  }

  set serviceCidrApi(on: boolean) {
    this.#serviceCidrApi = on;
  }
  get serviceCidrApi(): boolean {
    return this.#serviceCidrApi;
  }

  async start(): Promise<WorldState> {
    const L = this.layout;
    await mkdir(L.dir, { recursive: true, mode: 0o755 });
    await chmod(L.dir, 0o755);
    await mkdir(L.dnsRecordsDir, { recursive: true });
    const [, pki, programs, pgTemplate] = await Promise.all([
      this.network.create(),
      createPki(L.pkiDir, this.opts.clusterDomain),
      buildPrograms(L.programsDir),
      ensurePgTemplate(),
    ]);
    this.log('network, pki, programs and postgres template ready');

    const creds = newCredentials();
    const kubelet = new Kubelet(this.store, {
      store: this.store,
      network: this.network,
      images: { programsDir: programs.dir, pgTemplateDir: pgTemplate },
      agentScript: programs.agent,
      nodeName: (n) => L.nodeName(n),
      events: this.events,
      env: {
        configMap: (ns, name) => this.store.get('configmaps', ns, name),
        secret: (ns, name) => this.store.get('secrets', ns, name),
        services: (ns) => this.store.list('services', ns),
      },
      podDir: (uid) => L.podDir(uid),
      backoff: { initialMs: this.opts.restartBackoffMs, maxMs: Math.max(this.opts.restartBackoffMs, 10_000) },
      log: this.log,
    });
    this.kubelet = kubelet;
    kubelet.registerNodes();

    const zoneWriter = new DnsZoneWriter(this.store, L.dnsRecordsDir, this.opts.clusterDomain);
    this.kubeProxy = new KubeProxy(
      this.store,
      this.network.nodes.map((n) => n.netns),
      SERVICE_CIDR,
    );
    const controllers = [
      new Scheduler(this.store, this.events),
      new WorkloadController(this.store, this.rest, this.table),
      new EndpointsController(this.store),
      new GarbageCollector(this.store, this.rest, this.table),
      this.kubeProxy,
      zoneWriter,
    ];
    this.#controllers = controllers;
    const [echo, udpEcho] = await Promise.all([readFile(programs.echo, 'utf8'), readFile(programs.udpEcho, 'utf8')]);
    for (const m of worldManifests({ echo, udpEcho }, L.dnsRecordsDir, SERVICE_CIDR, true, this.opts.clusterDomain)) {
      this.rest.createObject(this.table.byKey(m.key), m.object, false);
    }
    const kubeEp = kubernetesEndpoints(L.nodeIp(0));
    this.store.create(kubeEp.key, kubeEp.object);
    for (const ns of this.store.list('namespaces')) {
      this.store.create('serviceaccounts', {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'default', namespace: ns.metadata.name },
      });
    }
    for (const c of controllers) c.start();
    await zoneWriter.settled();
    kubelet.start();

    const auth = new Authenticator(creds.users);
    this.apiServer = new ApiServer({
      host: '127.0.0.1',
      port: 0,
      key: pki.server.key,
      cert: pki.server.cert,
      ca: pki.ca.cert,
      rest: this.rest,
      table: this.table,
      auth,
      kubelet: { logs: (pod, q, res) => kubelet.logs(pod, q, res), dial: (pod, port) => kubelet.dial(pod, port) },
    });
    const port = await this.apiServer.start();
    const url = `https://127.0.0.1:${port}`;
    await writeKubeconfig(L.kubeconfig, L.dir, url, pki, creds);
    this.faults = new ApiPathFaults(port);
    await this.upstream.start(this.layout.laptopNetns, this.opts.clusterDomain);
    await this.#waitReady();
    return {
      id: L.id,
      dir: L.dir,
      owner: this.opts.owner,
      daemonPid: process.pid,
      kubeconfig: L.kubeconfig,
      laptopNetns: L.laptopNetns,
      apiServerUrl: url,
      apiServerPort: port,
      clusterDomain: this.opts.clusterDomain,
      startedAt: new Date().toISOString(),
    };
  }

  /** Every bootstrap pod Ready and the Service rules loaded with their endpoints. */
  async #waitReady(): Promise<void> {
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    for (;;) {
      const pods = this.store.list('pods');
      const ready = pods.length > 0 && pods.every((p: KObject) => podIsReady(p));
      const expected =
        this.store.list('apps/deployments').reduce((n, d) => n + (d.spec?.replicas ?? 0), 0) +
        this.store.list('apps/statefulsets').reduce((n, s) => n + (s.spec?.replicas ?? 0), 0);
      if (ready && pods.length === expected) {
        for (const c of this.#controllers) await (c as unknown as { settled(): Promise<void> }).settled();
        const again = this.store.list('pods').every((p: KObject) => podIsReady(p));
        if (again) return;
      }
      if (Date.now() > deadline) {
        const summary = pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}=${p.status?.phase}`).join(' ');
        throw new Error(`world not ready after ${this.opts.readyTimeoutMs} ms: ${summary}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const c of this.#controllers) c.stop();
    await this.apiServer?.stop().catch(() => undefined);
    this.faults?.close();
    this.upstream.close();
    await this.kubelet?.stop().catch(() => undefined);
    await sweepWorld(this.layout.id, this.layout.dir, process.pid);
  }
}
