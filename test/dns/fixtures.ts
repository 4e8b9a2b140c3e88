// A small cluster as Kubernetes objects: the shop namespace of the test
// world (web, db, a headless StatefulSet, named ports, an ExternalName).
import type { EndpointSlice, Pod, Service } from '../../src/dns/kube-types.js';

let rv = 100;
const meta = (namespace: string, name: string, labels?: Record<string, string>) => ({
  name,
  namespace,
  resourceVersion: String(++rv),
  uid: `${namespace}-${name}`,
  ...(labels ? { labels } : {}),
});

export function service(namespace: string, name: string, spec: NonNullable<Service['spec']>): Service {
  return { metadata: meta(namespace, name), spec };
}

export function slice(
  namespace: string,
  serviceName: string,
  endpoints: { ip: string; hostname?: string; ready?: boolean; pod?: string }[],
  ports: { name?: string; port: number; protocol?: string }[] = [],
  addressType: 'IPv4' | 'IPv6' = 'IPv4',
): EndpointSlice {
  return {
    metadata: meta(namespace, `${serviceName}-${Math.random().toString(36).slice(2, 7)}`, {
      'kubernetes.io/service-name': serviceName,
    }),
    addressType,
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true },
      ...(e.hostname ? { hostname: e.hostname } : {}),
      ...(e.pod ? { targetRef: { kind: 'Pod', name: e.pod, namespace } } : {}),
    })),
    ports,
  };
}

export function pod(namespace: string, name: string, ip: string, extra: Partial<NonNullable<Pod['spec']>> = {}): Pod {
  return { metadata: meta(namespace, name), spec: extra, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } };
}

export function shopCluster(): { services: Service[]; endpointSlices: EndpointSlice[]; pods: Pod[] } {
  return {
    services: [
      service('shop', 'web', {
        type: 'ClusterIP',
        clusterIP: '10.96.10.1',
        clusterIPs: ['10.96.10.1'],
        ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      }),
      service('shop', 'db', { type: 'ClusterIP', clusterIP: '10.96.10.2', ports: [{ name: 'postgres', port: 5432 }] }),
      service('shop', 'dual', { type: 'ClusterIP', clusterIP: '10.96.10.3', clusterIPs: ['10.96.10.3', 'fd00:96::3'] }),
      service('shop', 'pg', { clusterIP: 'None', ports: [{ name: 'postgres', port: 5432 }] }),
      service('shop', 'legacy', { type: 'ExternalName', externalName: 'db.shop.svc.cluster.local.' }),
      service('shop', 'search', { type: 'ExternalName', externalName: 'search.example.net' }),
      service('kube-system', 'kube-dns', {
        clusterIP: '10.96.0.10',
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      }),
    ],
    endpointSlices: [
      slice('shop', 'web', [{ ip: '10.244.1.5', pod: 'web-1' }], [{ name: 'http', port: 8080 }]),
      slice(
        'shop',
        'pg',
        [
          { ip: '10.244.1.10', hostname: 'pg-0', pod: 'pg-0' },
          { ip: '10.244.2.11', hostname: 'pg-1', pod: 'pg-1' },
          { ip: '10.244.2.12', hostname: 'pg-2', ready: false, pod: 'pg-2' },
        ],
        [{ name: 'postgres', port: 5432, protocol: 'TCP' }],
      ),
    ],
    pods: [
      pod('shop', 'web-1', '10.244.1.5'),
      pod('shop', 'pg-0', '10.244.1.10', { hostname: 'pg-0', subdomain: 'pg' }),
      pod('shop', 'lonely', '10.244.3.3'),
    ],
  };
}
