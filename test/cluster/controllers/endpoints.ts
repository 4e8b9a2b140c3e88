// EndpointSlices (discovery.k8s.io/v1) and legacy Endpoints for every
// Service with a selector, from the pods it selects: ready, serving and
// terminating conditions, target ports resolved (named ports too), pod
// hostnames for headless services.

import { randomSuffix } from '../apiserver/admission.js';
import { type KObject, podIsReady } from '../apiserver/objects.js';
import { selectorMatches } from '../apiserver/selectors.js';
import type { Store } from '../apiserver/store.js';
import { Reconciler } from './reconciler.js';

// biome-ignore lint/suspicious/noExplicitAny: API objects are JSON
type Json = any;

const MANAGED_BY = 'endpointslice-controller.k8s.io';
const SLICES = 'discovery.k8s.io/endpointslices';

function resolveTargetPort(target: number | string, pod: KObject | undefined): number | undefined {
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  for (const c of pod?.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === target) return p.containerPort;
  }
  return undefined;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class EndpointsController extends Reconciler {
  constructor(store: Store) {
    super(store, ['services', 'pods', SLICES]);
  }

  protected reconcile(): void {
    const services = this.store.list('services');
    const pods = this.store.list('pods');
    const slices = this.store
      .list(SLICES)
      .filter((s) => s.metadata.labels?.['endpointslice.kubernetes.io/managed-by'] === MANAGED_BY);
    const wanted = new Set<string>();
    for (const svc of services) {
      if (svc.spec?.type === 'ExternalName' || !svc.spec?.selector) continue;
      const ns = svc.metadata.namespace ?? '';
      const name = svc.metadata.name ?? '';
      const selected = pods.filter(
        (p) =>
          p.metadata.namespace === ns &&
          selectorMatches(svc.spec.selector, p.metadata.labels) &&
          p.status?.podIP &&
          p.status.phase !== 'Succeeded' &&
          p.status.phase !== 'Failed',
      );
      const ports = (svc.spec.ports ?? []).map((sp: Json) => ({
        name: sp.name ?? '',
        port: resolveTargetPort(sp.targetPort ?? sp.port, selected[0]) ?? sp.port,
        protocol: sp.protocol ?? 'TCP',
        ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}),
      }));
      const endpoints = selected.map((p) => {
        const terminating = !!p.metadata.deletionTimestamp;
        const ready = podIsReady(p) && !terminating;
        const ep: Json = {
          addresses: [p.status.podIP],
          conditions: { ready, serving: podIsReady(p), terminating },
          nodeName: p.spec.nodeName,
          targetRef: { kind: 'Pod', namespace: ns, name: p.metadata.name, uid: p.metadata.uid },
        };
        if (p.spec.hostname && p.spec.subdomain === name) ep.hostname = p.spec.hostname;
        return ep;
      });
      const existing = slices.find(
        (s) => s.metadata.namespace === ns && s.metadata.labels?.['kubernetes.io/service-name'] === name,
      );
      const labels = {
        ...(svc.metadata.labels ?? {}),
        'endpointslice.kubernetes.io/managed-by': MANAGED_BY,
        'kubernetes.io/service-name': name,
        ...(svc.spec.clusterIP === 'None' ? { 'service.kubernetes.io/headless': '' } : {}),
      };
      const body = { addressType: 'IPv4', endpoints, ports };
      if (existing) {
        wanted.add(existing.metadata.uid ?? '');
        if (!same({ ...existing, ...body, metadata: { ...existing.metadata, labels } }, existing)) {
          this.store.mutate(SLICES, ns, existing.metadata.name ?? '', (s) => {
            Object.assign(s, body);
            s.metadata.labels = labels;
          });
        }
      } else {
        const created = this.store.create(SLICES, {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: {
            name: `${name}-${randomSuffix()}`,
            generateName: `${name}-`,
            namespace: ns,
            labels,
            ownerReferences: [
              {
                apiVersion: 'v1',
                kind: 'Service',
                name,
                uid: svc.metadata.uid ?? '',
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
            generation: 1,
          },
          ...body,
        });
        wanted.add(created.metadata.uid ?? '');
      }
      this.#legacy(svc, endpoints, ports);
    }
    for (const s of slices) {
      if (!wanted.has(s.metadata.uid ?? '')) {
        try {
          this.store.remove(SLICES, s.metadata.namespace, s.metadata.name ?? '');
        } catch {}
      }
    }
    for (const e of this.store.list('endpoints')) {
      const svc = services.find(
        (s) => s.metadata.namespace === e.metadata.namespace && s.metadata.name === e.metadata.name,
      );
      if (!svc?.spec?.selector && e.metadata.labels?.['endpoints.kubernetes.io/managed-by'] === 'endpoint-controller') {
        try {
          this.store.remove('endpoints', e.metadata.namespace, e.metadata.name ?? '');
        } catch {}
      }
    }
  }

  #legacy(svc: KObject, endpoints: Json[], ports: Json[]): void {
    const ns = svc.metadata.namespace ?? '';
    const name = svc.metadata.name ?? '';
    const addr = (e: Json): Json => ({
      ip: e.addresses[0],
      nodeName: e.nodeName,
      targetRef: e.targetRef,
      ...(e.hostname ? { hostname: e.hostname } : {}),
    });
    const ready = endpoints.filter((e) => e.conditions.ready).map(addr);
    const notReady = endpoints.filter((e) => !e.conditions.ready).map(addr);
    const subsets =
      endpoints.length === 0
        ? undefined
        : [
            {
              ...(ready.length ? { addresses: ready } : {}),
              ...(notReady.length ? { notReadyAddresses: notReady } : {}),
              ports: ports.map((p) => ({ name: p.name || undefined, port: p.port, protocol: p.protocol })),
            },
          ];
    const labels = { ...(svc.metadata.labels ?? {}), 'endpoints.kubernetes.io/managed-by': 'endpoint-controller' };
    const cur = this.store.get('endpoints', ns, name);
    const next: KObject = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: ns, labels } };
    if (subsets) next.subsets = JSON.parse(JSON.stringify(subsets));
    if (!cur) {
      this.store.create('endpoints', next);
      return;
    }
    if (!same(cur.subsets, next.subsets) || !same(cur.metadata.labels, labels)) {
      this.store.mutate('endpoints', ns, name, (e) => {
        e.metadata.labels = labels;
        if (next.subsets) e.subsets = next.subsets;
        else delete e.subsets;
      });
    }
  }
}
