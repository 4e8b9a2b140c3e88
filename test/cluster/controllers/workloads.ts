// Deployments (through ReplicaSets) and StatefulSets keep their pods
// alive: a deleted or finished pod is replaced, as the real controllers do.
// Status fields (replicas, readyReplicas, availableReplicas, conditions)
// follow the pods.
import { createHash } from 'node:crypto';
import { randomSuffix } from '../apiserver/admission.js';
import { type KObject, podIsReady } from '../apiserver/objects.js';
import type { ResourceTable } from '../apiserver/resources.js';
import type { Rest } from '../apiserver/rest.js';
import type { Store } from '../apiserver/store.js';
import { Reconciler } from './reconciler.js';

// biome-ignore lint/suspicious/noExplicitAny: API objects are JSON
type Json = any;

const DEPLOYMENTS = 'apps/deployments';
const REPLICASETS = 'apps/replicasets';
const STATEFULSETS = 'apps/statefulsets';

function templateHash(template: Json): string {
  const h = createHash('sha256').update(JSON.stringify(template)).digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...h.subarray(0, 10)].map((b) => alphabet[b % alphabet.length]).join('');
}

function ownedBy(o: KObject, owner: KObject): boolean {
  return (o.metadata.ownerReferences ?? []).some((r) => r.uid === owner.metadata.uid);
}

function ownerRef(o: KObject, kind: string): Json {
  return {
    apiVersion: 'apps/v1',
    kind,
    name: o.metadata.name,
    uid: o.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function alive(p: KObject): boolean {
  return !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
}

function now(): string {
  return `${new Date().toISOString().slice(0, 19)}Z`;
}

export class WorkloadController extends Reconciler {
  #rest: Rest;
  #table: ResourceTable;

  constructor(store: Store, rest: Rest, table: ResourceTable) {
    super(store, [DEPLOYMENTS, REPLICASETS, STATEFULSETS, 'pods']);
    this.#rest = rest;
    this.#table = table;
  }

  protected reconcile(): void {
    const pods = this.store.list('pods');
    for (const d of this.store.list(DEPLOYMENTS)) if (!d.metadata.deletionTimestamp) this.#deployment(d);
    for (const rs of this.store.list(REPLICASETS)) if (!rs.metadata.deletionTimestamp) this.#replicaSet(rs, pods);
    for (const s of this.store.list(STATEFULSETS)) if (!s.metadata.deletionTimestamp) this.#statefulSet(s, pods);
  }

  #deployment(d: KObject): void {
    const ns = d.metadata.namespace ?? '';
    const hash = templateHash(d.spec.template);
    const name = `${d.metadata.name}-${hash}`;
    const replicas = d.spec.replicas ?? 1;
    const sets = this.store.list(REPLICASETS, ns).filter((rs) => ownedBy(rs, d));
    let current = sets.find((rs) => rs.metadata.name === name);
    if (!current) {
      const labels = { ...(d.spec.template.metadata?.labels ?? {}), 'pod-template-hash': hash };
      current = this.store.create(REPLICASETS, {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name,
          namespace: ns,
          labels,
          ownerReferences: [ownerRef(d, 'Deployment')],
          generation: 1,
          annotations: { 'deployment.kubernetes.io/revision': '1' },
        },
        spec: {
          replicas,
          selector: { matchLabels: { ...(d.spec.selector?.matchLabels ?? {}), 'pod-template-hash': hash } },
          template: { ...d.spec.template, metadata: { ...(d.spec.template.metadata ?? {}), labels } },
        },
        status: { replicas: 0 },
      });
    } else if (current.spec.replicas !== replicas) {
      this.store.mutate(REPLICASETS, ns, name, (rs) => {
        rs.spec.replicas = replicas;
      });
    }
    for (const old of sets) {
      if (old.metadata.name !== name && old.spec.replicas !== 0) {
        this.store.mutate(REPLICASETS, ns, old.metadata.name ?? '', (rs) => {
          rs.spec.replicas = 0;
        });
      }
    }
    const st = current.status ?? {};
    const ready = st.readyReplicas ?? 0;
    this.store.mutate(DEPLOYMENTS, ns, d.metadata.name ?? '', (x) => {
      const prev: Json[] = x.status?.conditions ?? [];
      const cond = (type: string, ok: boolean, reason: string, message: string): Json => {
        const p = prev.find((c) => c.type === type);
        const status = ok ? 'True' : 'False';
        return {
          type,
          status,
          lastUpdateTime: p?.status === status ? p.lastUpdateTime : now(),
          lastTransitionTime: p?.status === status ? p.lastTransitionTime : now(),
          reason,
          message,
        };
      };
      x.status = {
        observedGeneration: x.metadata.generation,
        replicas: st.replicas ?? 0,
        updatedReplicas: st.replicas ?? 0,
        readyReplicas: ready || undefined,
        availableReplicas: ready || undefined,
        unavailableReplicas: replicas - ready > 0 ? replicas - ready : undefined,
        conditions: [
          cond(
            'Available',
            ready >= replicas,
            ready >= replicas ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
            ready >= replicas
              ? 'Deployment has minimum availability.'
              : 'Deployment does not have minimum availability.',
          ),
          cond(
            'Progressing',
            true,
            ready >= replicas ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
            `ReplicaSet "${name}" ${ready >= replicas ? 'has successfully progressed.' : 'is progressing.'}`,
          ),
        ],
      };
      x.status = JSON.parse(JSON.stringify(x.status));
    });
  }

  #replicaSet(rs: KObject, allPods: KObject[]): void {
    const ns = rs.metadata.namespace ?? '';
    const pods = allPods.filter((p) => p.metadata.namespace === ns && ownedBy(p, rs));
    const live = pods.filter(alive);
    const want = rs.spec.replicas ?? 1;
    for (let i = live.length; i < want; i++) {
      this.#createPod(rs.spec.template, ns, `${rs.metadata.name}-${randomSuffix()}`, ownerRef(rs, 'ReplicaSet'));
    }
    for (const extra of live.slice(want)) this.#deletePod(extra);
    for (const p of pods) if (!alive(p) && !p.metadata.deletionTimestamp) this.#deletePod(p);
    const ready = live.filter(podIsReady).length;
    this.store.mutate(REPLICASETS, ns, rs.metadata.name ?? '', (x) => {
      x.status = JSON.parse(
        JSON.stringify({
          replicas: Math.min(live.length, want),
          fullyLabeledReplicas: Math.min(live.length, want),
          readyReplicas: ready || undefined,
          availableReplicas: ready || undefined,
          observedGeneration: x.metadata.generation,
        }),
      );
    });
  }

  #statefulSet(s: KObject, allPods: KObject[]): void {
    const ns = s.metadata.namespace ?? '';
    const want = s.spec.replicas ?? 1;
    const ordered = (s.spec.podManagementPolicy ?? 'OrderedReady') === 'OrderedReady';
    const pods = allPods.filter((p) => p.metadata.namespace === ns && ownedBy(p, s));
    const hash = `${s.metadata.name}-${templateHash(s.spec.template)}`;
    for (let i = 0; i < want; i++) {
      const name = `${s.metadata.name}-${i}`;
      const p = pods.find((x) => x.metadata.name === name);
      if (p) {
        if (!alive(p) && !p.metadata.deletionTimestamp) this.#deletePod(p);
        if (ordered && !podIsReady(p)) break;
        continue;
      }
      if (allPods.some((x) => x.metadata.namespace === ns && x.metadata.name === name)) break;
      const template = JSON.parse(JSON.stringify(s.spec.template));
      template.metadata ??= {};
      template.metadata.labels = {
        ...(template.metadata.labels ?? {}),
        'statefulset.kubernetes.io/pod-name': name,
        'apps.kubernetes.io/pod-index': String(i),
        'controller-revision-hash': hash,
      };
      template.spec.hostname = name;
      if (s.spec.serviceName) template.spec.subdomain = s.spec.serviceName;
      this.#createPod(template, ns, name, ownerRef(s, 'StatefulSet'));
      if (ordered) break;
    }
    for (const p of pods) {
      const idx = Number((p.metadata.name ?? '').slice((s.metadata.name ?? '').length + 1));
      if (idx >= want && alive(p)) this.#deletePod(p);
    }
    const ready = pods.filter((p) => alive(p) && podIsReady(p)).length;
    this.store.mutate(STATEFULSETS, ns, s.metadata.name ?? '', (x) => {
      x.status = JSON.parse(
        JSON.stringify({
          observedGeneration: x.metadata.generation,
          replicas: pods.filter(alive).length,
          readyReplicas: ready || undefined,
          availableReplicas: ready || undefined,
          currentReplicas: pods.filter(alive).length,
          updatedReplicas: pods.filter(alive).length,
          currentRevision: hash,
          updateRevision: hash,
          collisionCount: 0,
        }),
      );
    });
  }

  #createPod(template: Json, ns: string, name: string, owner: Json): void {
    const pod: KObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { ...(template.metadata ?? {}), name, namespace: ns, ownerReferences: [owner] },
      spec: JSON.parse(JSON.stringify(template.spec)),
    };
    try {
      this.#rest.createObject(this.#table.byKey('pods'), pod, false);
    } catch (err) {
      this.onError(err);
    }
  }

  #deletePod(p: KObject): void {
    this.#rest.deleteObject(this.#table.byKey('pods'), p, undefined, false);
  }
}
