// The cluster's state as DNS sees it: Services, EndpointSlices and Pods
// kept up to date by informers (list + watch, restarted on any error), and
// a fresh zone snapshot built shortly after each change. Cluster-wide
// watches are tried first; where the user may not list cluster-wide (a
// namespace-scoped Role, a 403), that kind is watched in the connected
// namespace only, and everything else in the zone is left to the cluster
// DNS (the answering core forwards names in namespaces we do not cover).
// Refused there too (the tunnel-only Role of docs/rbac.md), the kind is not
// watched at all: its scope stays empty, so its names are all forwarded,
// never answered NXDOMAIN from a zone that simply lacks them.
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { Informer, type KubeObject } from '../kube/informer.js';
import type { EndpointSlice, Pod, Service } from './kube-types.js';
import type { RecordSource } from './server.js';
import { buildZone, type Scope, type ZoneSnapshot } from './zone.js';

export const REBUILD_DELAY_MS = 50;
/** However busy the cluster, a change shows up within this (plus one rebuild). */
const REBUILD_DELAY_MAX_MS = 2000;

type Kind = 'services' | 'endpointslices' | 'pods';

const PATHS: Record<Kind, (namespace?: string) => string> = {
  services: (ns) => (ns ? `/api/v1/namespaces/${ns}/services` : '/api/v1/services'),
  endpointslices: (ns) =>
    ns ? `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices` : '/apis/discovery.k8s.io/v1/endpointslices',
  pods: (ns) => (ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods'),
};

export interface ClusterRecordsOptions {
  clusterDomain: string;
  /** 'all': cluster-wide where allowed; a list: just those namespaces. */
  namespaces: 'all' | string[];
  /** Watched on its own when cluster-wide access is forbidden (the connected namespace). */
  fallbackNamespace?: string;
  /** Watch Pods too (pod A records and pod-IP PTRs). Default true. */
  pods?: boolean;
  /** Each failed list/watch attempt (the informers retry by themselves). */
  onError?(err: Error): void;
  rebuildDelayMs?: number;
}

/** One kind's informers: one cluster-wide, or one per namespace. */
class KindWatch {
  readonly informers = new Map<string, Informer<KubeObject>>();
  readonly forbidden = new Set<string>();
}

export class ClusterRecords implements RecordSource {
  readonly #client: KubeClient;
  readonly #options: ClusterRecordsOptions;
  readonly #watches = new Map<Kind, KindWatch>();
  #zone: ZoneSnapshot;
  #serial = 1;
  #timer: NodeJS.Timeout | undefined;
  #lastBuildMs = 0;
  #closed = false;
  readonly #listeners = new Set<(zone: ZoneSnapshot) => void>();
  readonly #settledWaiters: (() => void)[] = [];

  private constructor(client: KubeClient, options: ClusterRecordsOptions) {
    this.#client = client;
    this.#options = options;
    this.#zone = buildZone({ clusterDomain: options.clusterDomain, serviceScope: new Set(), podScope: new Set() });
  }

  /** Starts the watches; the zone fills in as they sync. */
  static fromInformers(client: KubeClient, options: ClusterRecordsOptions): ClusterRecords {
    const records = new ClusterRecords(client, options);
    const kinds: Kind[] =
      options.pods === false ? ['services', 'endpointslices'] : ['services', 'endpointslices', 'pods'];
    for (const kind of kinds) {
      const watch = new KindWatch();
      records.#watches.set(kind, watch);
      if (options.namespaces === 'all') records.#watch(kind, '*');
      else for (const ns of options.namespaces) records.#watch(kind, ns);
    }
    return records;
  }

  get zone(): ZoneSnapshot {
    return this.#zone;
  }

  /** Called with each new snapshot. */
  onUpdate(listener: (zone: ZoneSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Where Services are known completely right now. */
  get serviceScope(): Scope {
    return this.#scope(['services', 'endpointslices']);
  }

  /** Resolves once each watch has synced or been refused wherever it was tried (or on close). */
  settled(): Promise<void> {
    if (this.#closed || this.#isSettled()) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  /** Namespaces (or '*') whose watch was refused with 403, per kind. */
  forbidden(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [kind, watch] of this.#watches) if (watch.forbidden.size) out[kind] = [...watch.forbidden];
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const watch of this.#watches.values()) for (const informer of watch.informers.values()) informer.close();
    this.#listeners.clear();
    for (const resolve of this.#settledWaiters.splice(0)) resolve();
  }

  #watch(kind: Kind, namespace: string): void {
    const watch = this.#watches.get(kind);
    if (!watch || watch.informers.has(namespace) || this.#closed) return;
    const informer = new Informer<KubeObject>(this.#client, PATHS[kind](namespace === '*' ? undefined : namespace), {
      onEvent: () => this.#changed(),
      onSynced: () => {
        this.#changed();
        this.#checkSettled();
      },
      onError: (err) => this.#onError(kind, namespace, err),
    });
    watch.informers.set(namespace, informer);
    informer.start();
  }

  #onError(kind: Kind, namespace: string, err: Error): void {
    this.#options.onError?.(err);
    if (!(err instanceof KubeApiError) || err.status !== 403 || this.#closed) return;
    // Not allowed: stop asking, and fall back to the connected namespace for a cluster-wide watch.
    const watch = this.#watches.get(kind);
    watch?.informers.get(namespace)?.close();
    watch?.informers.delete(namespace);
    watch?.forbidden.add(namespace);
    const fallback = this.#options.fallbackNamespace;
    if (namespace === '*' && fallback && !watch?.forbidden.has(fallback)) this.#watch(kind, fallback);
    this.#changed();
    this.#checkSettled();
  }

  #isSettled(): boolean {
    for (const watch of this.#watches.values())
      for (const informer of watch.informers.values()) if (!informer.synced) return false;
    return true;
  }

  #checkSettled(): void {
    if (this.#settledWaiters.length && this.#isSettled())
      for (const resolve of this.#settledWaiters.splice(0)) resolve();
  }

  #changed(): void {
    if (this.#timer || this.#closed) return;
    const delay = Math.min(
      REBUILD_DELAY_MAX_MS,
      Math.max(this.#options.rebuildDelayMs ?? REBUILD_DELAY_MS, this.#lastBuildMs * 4),
    );
    this.#timer = setTimeout(() => this.#rebuild(), delay);
    this.#timer.unref();
  }

  #rebuild(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    const started = performance.now();
    this.#zone = buildZone({
      clusterDomain: this.#options.clusterDomain,
      services: this.#items<Service>('services'),
      endpointSlices: this.#items<EndpointSlice>('endpointslices'),
      pods: this.#items<Pod>('pods'),
      serviceScope: this.#scope(['services', 'endpointslices']),
      podScope: this.#scope(['pods']),
      serial: ++this.#serial,
    });
    this.#lastBuildMs = performance.now() - started;
    for (const listener of this.#listeners) listener(this.#zone);
  }

  *#items<T extends KubeObject>(kind: Kind): Iterable<T> {
    for (const informer of this.#watches.get(kind)?.informers.values() ?? []) yield* informer.items() as T[];
  }

  /** Namespaces where every listed kind has a synced watch ('all' if all are cluster-wide). */
  #scope(kinds: Kind[]): Scope {
    let all = true;
    let namespaces: Set<string> | undefined;
    for (const kind of kinds) {
      const watch = this.#watches.get(kind);
      const synced = new Set<string>();
      for (const [ns, informer] of watch?.informers ?? []) if (informer.synced) synced.add(ns);
      if (!synced.has('*')) all = false;
      const here = synced.has('*') ? undefined : synced;
      if (here) namespaces = namespaces ? new Set([...namespaces].filter((ns) => here.has(ns))) : here;
    }
    if (all) return 'all';
    return namespaces ?? new Set();
  }
}
