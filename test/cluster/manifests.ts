// What a fresh world contains, as the API objects a user would apply:
// namespaces, kube-dns (CoreDNS stand-in), and the workloads the tests use —
// echo (HTTP 80, 2 pods), postgres (5432), headless peers (3 pods),
// udp-echo (UDP 9000), ext (ExternalName → echo), shop/web (HTTP 80).
import type { KObject } from './apiserver/objects.js';
import { DNS_SERVICE_IP, KUBERNETES_SERVICE_IP } from './world-config.js';

// biome-ignore lint/suspicious/noExplicitAny: manifests are JSON
type Json = any;

export interface Manifest {
  /** Store key, see resources.ts. */
  key: string;
  object: KObject;
}

const NODE_IMAGE = 'node:22-alpine';

function ns(name: string): Manifest {
  return { key: 'namespaces', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } };
}

function configMap(namespace: string, name: string, data: Record<string, string>): Manifest {
  return { key: 'configmaps', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data } };
}

function service(
  namespace: string,
  name: string,
  spec: Json,
  labels: Record<string, string> = { app: name },
): Manifest {
  return {
    key: 'services',
    object: { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, labels }, spec },
  };
}

function nodeAppContainer(
  name: string,
  script: string,
  env: Record<string, string>,
  ports: Json[],
  probePort?: number | string,
): Json {
  const c: Json = {
    name,
    image: NODE_IMAGE,
    command: ['node', `/app/${script}`],
    env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
    ports,
    volumeMounts: [{ name: 'app', mountPath: '/app', readOnly: true }],
  };
  if (probePort !== undefined)
    c.readinessProbe = { tcpSocket: { port: probePort }, periodSeconds: 1, timeoutSeconds: 1 };
  return c;
}

function deployment(
  namespace: string,
  name: string,
  replicas: number,
  podSpec: Json,
  labels: Record<string, string> = { app: name },
): Manifest {
  return {
    key: 'apps/deployments',
    object: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace, labels },
      spec: { replicas, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec } },
    },
  };
}

export interface ProgramSources {
  echo: string;
  udpEcho: string;
}

export function worldManifests(
  programs: ProgramSources,
  dnsZoneDir: string,
  serviceCidr: string,
  withServiceCidrApi: boolean,
  clusterDomain: string,
): Manifest[] {
  const appVolume = (cm: string): Json => ({ name: 'app', configMap: { name: cm } });
  const echoSpec = (prefix: string): Json => ({
    containers: [
      nodeAppContainer(
        prefix,
        'echo.mjs',
        { PORT: '8080', TCP_ECHO_PORT: '9007' },
        [
          { name: 'http', containerPort: 8080 },
          { name: 'tcp-echo', containerPort: 9007 },
        ],
        'http',
      ),
    ],
    volumes: [appVolume('echo-app')],
    terminationGracePeriodSeconds: 5,
  });
  const out: Manifest[] = [
    ns('default'),
    ns('kube-system'),
    ns('kube-public'),
    ns('kube-node-lease'),
    ns('shop'),
    service(
      'default',
      'kubernetes',
      { clusterIP: KUBERNETES_SERVICE_IP, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] },
      { component: 'apiserver', provider: 'kubernetes' },
    ),
    // kube-dns: a Deployment of the coredns "image" serving the world's zone file.
    service(
      'kube-system',
      'kube-dns',
      {
        clusterIP: DNS_SERVICE_IP,
        selector: { 'k8s-app': 'kube-dns' },
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
          { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
        ],
      },
      { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' },
    ),
    deployment(
      'kube-system',
      'coredns',
      1,
      {
        dnsPolicy: 'Default',
        containers: [
          {
            name: 'coredns',
            image: 'registry.k8s.io/coredns/coredns:v1.11.3',
            args: ['-conf', '/etc/coredns/Corefile'],
            env: [{ name: 'KVPN_DNS_ZONE', value: '/etc/coredns/zone/zone.json' }],
            ports: [
              { name: 'dns', containerPort: 53, protocol: 'UDP' },
              { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
            ],
            volumeMounts: [{ name: 'zone', mountPath: '/etc/coredns/zone', readOnly: true }],
            readinessProbe: { tcpSocket: { port: 53 }, periodSeconds: 1 },
          },
        ],
        volumes: [{ name: 'zone', hostPath: { path: dnsZoneDir, type: 'Directory' } }],
        terminationGracePeriodSeconds: 1,
      },
      { 'k8s-app': 'kube-dns' },
    ),
    configMap('default', 'echo-app', { 'echo.mjs': programs.echo }),
    configMap('default', 'udp-echo-app', { 'udp-echo.mjs': programs.udpEcho }),
    configMap('shop', 'echo-app', { 'echo.mjs': programs.echo }),
    service('default', 'echo', {
      selector: { app: 'echo' },
      ports: [
        { name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' },
        { name: 'tcp-echo', port: 7, protocol: 'TCP', targetPort: 9007 },
      ],
    }),
    deployment('default', 'echo', 2, echoSpec('echo')),
    service('default', 'postgres', {
      selector: { app: 'postgres' },
      ports: [{ name: 'postgres', port: 5432, targetPort: 5432 }],
    }),
    deployment('default', 'postgres', 1, {
      containers: [
        {
          name: 'postgres',
          image: 'postgres:15',
          env: [{ name: 'POSTGRES_HOST_AUTH_METHOD', value: 'trust' }],
          ports: [{ name: 'postgres', containerPort: 5432 }],
          readinessProbe: { tcpSocket: { port: 5432 }, periodSeconds: 1 },
        },
      ],
      terminationGracePeriodSeconds: 2,
    }),
    service('default', 'peers', {
      clusterIP: 'None',
      selector: { app: 'peers' },
      ports: [{ name: 'http', port: 8080, targetPort: 8080 }],
    }),
    {
      key: 'apps/statefulsets',
      object: {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'peers', namespace: 'default', labels: { app: 'peers' } },
        spec: {
          replicas: 3,
          serviceName: 'peers',
          podManagementPolicy: 'Parallel',
          selector: { matchLabels: { app: 'peers' } },
          template: {
            metadata: { labels: { app: 'peers' } },
            spec: {
              ...echoSpec('peer'),
              containers: [
                nodeAppContainer('peer', 'echo.mjs', { PORT: '8080' }, [{ name: 'http', containerPort: 8080 }], 8080),
              ],
            },
          },
        },
      },
    },
    service('default', 'udp-echo', {
      selector: { app: 'udp-echo' },
      ports: [{ name: 'udp', port: 9000, protocol: 'UDP', targetPort: 9000 }],
    }),
    deployment('default', 'udp-echo', 1, {
      containers: [
        nodeAppContainer('udp-echo', 'udp-echo.mjs', { PORT: '9000' }, [
          { name: 'udp', containerPort: 9000, protocol: 'UDP' },
        ]),
      ],
      volumes: [{ name: 'app', configMap: { name: 'udp-echo-app' } }],
      terminationGracePeriodSeconds: 2,
    }),
    service('default', 'ext', { type: 'ExternalName', externalName: `echo.default.svc.${clusterDomain}` }),
    service('shop', 'web', {
      selector: { app: 'web' },
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
    }),
    deployment('shop', 'web', 1, echoSpec('web')),
  ];
  if (withServiceCidrApi) {
    out.push({
      key: 'networking.k8s.io/servicecidrs',
      object: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'ServiceCIDR',
        metadata: { name: 'kubernetes' },
        spec: { cidrs: [serviceCidr] },
        status: {
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: '',
              message: 'Kubernetes Service CIDR is ready',
              lastTransitionTime: `${new Date().toISOString().slice(0, 19)}Z`,
            },
          ],
        },
      },
    });
  }
  return out;
}

/** The EndpointSlice the API server keeps for the kubernetes Service. */
export function kubernetesEndpoints(controlPlaneIp: string): Manifest {
  return {
    key: 'discovery.k8s.io/endpointslices',
    object: {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'kubernetes',
        namespace: 'default',
        labels: {
          'kubernetes.io/service-name': 'kubernetes',
          'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io',
        },
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: [controlPlaneIp], conditions: { ready: true } }],
      ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
    },
  };
}
