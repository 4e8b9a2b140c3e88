// The objects that stand in front of an intercepted Service (docs/design.md §18):
// a decoy Service with the original selector (the router's way to the
// workload's own pods), and the router: a Deployment running the relay
// bundle in router mode, its ConfigMap (the bundle) and Secret (the token
// laptops present). Pure: what the Service is in, JSON out.
import { createHash } from 'node:crypto';
import { ENV, type RouterRoute } from '../relay/environment.js';
import {
  DEFAULT_RELAY_IMAGE,
  type KubeJson,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  MANAGER,
  RELAY_BUNDLE_KEY,
  RELAY_MOUNT_PATH,
  RELAY_PORT,
  RELAY_UID,
} from '../relay/manifest.js';
import { formatAuthority } from '../relay/protocol.js';

export const ROUTER_APP = 'kvpn-router';
/** On router pods and objects: which router (one per intercepted Service). */
export const LABEL_ROUTER = 'kvpn.dev/router';
/** On the intercepted Service while it points at the router: its own selector, as JSON. */
export const ANNOTATION_ORIGINAL_SELECTOR = 'kvpn.dev/original-selector';
export { DEFAULT_RELAY_IMAGE as DEFAULT_ROUTER_IMAGE, RELAY_PORT as ROUTER_PORT };

export interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
  nodePort?: number;
  appProtocol?: string;
}

/** A name ≤ 63 characters for an object derived from `service` (hashed when too long). */
function derivedName(prefix: string, service: string): string {
  const name = `${prefix}-${service}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(service).digest('hex').slice(0, 8);
  return `${name.slice(0, 54).replace(/-+$/, '')}-${hash}`;
}

export const routerName = (service: string): string => derivedName('kvpn-router', service);
export const decoyName = (service: string): string => derivedName('kvpn-decoy', service);

/** What the intercepted Service selects while it is redirected. */
export function routerSelector(service: string): Record<string, string> {
  return { [LABEL_NAME]: ROUTER_APP, [LABEL_ROUTER]: routerName(service) };
}

function routerLabels(service: string): Record<string, string> {
  return { ...routerSelector(service), [LABEL_MANAGED_BY]: MANAGER };
}

/** The decoy: the Service's ports and original selector under another name, ClusterIP only. */
export function decoyService(namespace: string, service: string, ports: ServicePort[], selector: KubeJson): KubeJson {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: decoyName(service), namespace, labels: routerLabels(service) },
    spec: {
      type: 'ClusterIP',
      selector,
      ports: ports.map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        port: p.port,
        protocol: p.protocol ?? 'TCP',
        targetPort: p.targetPort ?? p.port,
      })),
    },
  };
}

/** A router listening port per Service port, and the container port (named as the Service's targetPort) for it. */
export interface RouterListen {
  servicePort: ServicePort;
  /** Where the router listens (the Service's targetPort resolved: a number, or the workload's number for a name). */
  port: number;
  /** Set when the Service's targetPort is a name: the router's container port carries it. */
  portName?: string | undefined;
}

/**
 * Where the router listens for each Service port, so that the Service's
 * targetPorts (numbers or names) land on it unchanged. A named targetPort
 * takes the number the workload's container declares for it, else one from 18000 up.
 */
export function routerListens(ports: ServicePort[], namedPorts: Map<string, number>): RouterListen[] {
  const taken = new Set<number>([RELAY_PORT]);
  const out: RouterListen[] = [];
  for (const p of ports) {
    const target = p.targetPort ?? p.port;
    if (typeof target === 'number' || /^\d+$/.test(target)) {
      out.push({ servicePort: p, port: Number(target) });
      taken.add(Number(target));
    }
  }
  let next = 18000;
  for (const p of ports) {
    const target = p.targetPort ?? p.port;
    if (typeof target === 'number' || /^\d+$/.test(target)) continue;
    const existing = out.find((l) => l.portName === target);
    if (existing) {
      out.push({ servicePort: p, port: existing.port, portName: target });
      continue;
    }
    let port = namedPorts.get(target);
    if (port === undefined || taken.has(port)) {
      while (taken.has(next)) next++;
      port = next;
    }
    taken.add(port);
    out.push({ servicePort: p, port, portName: target });
  }
  return out;
}

export interface RouterManifestOptions {
  namespace: string;
  service: string;
  listens: RouterListen[];
  /** The decoy Service's ClusterIP: where traffic not intercepted goes. */
  decoyIp: string;
  image: string;
}

export function routerRoutes(listens: RouterListen[], decoyIp: string): RouterRoute[] {
  const seen = new Set<number>();
  const routes: RouterRoute[] = [];
  for (const l of listens) {
    if (seen.has(l.port)) continue;
    seen.add(l.port);
    // An IPv6 ClusterIP in brackets ([fd00:10:96::1a]:80), as the router reads authorities.
    routes.push({ port: l.port, upstream: formatAuthority(decoyIp, l.servicePort.port) });
  }
  return routes;
}

export function routerConfigMap(namespace: string, service: string, bundle: string): KubeJson {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: routerName(service), namespace, labels: routerLabels(service) },
    data: { [RELAY_BUNDLE_KEY]: bundle },
  };
}

export function routerSecret(namespace: string, service: string, token: string): KubeJson {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: routerName(service), namespace, labels: routerLabels(service) },
    data: { token: Buffer.from(token).toString('base64') },
  };
}

export function routerDeployment(o: RouterManifestOptions): KubeJson {
  const name = routerName(o.service);
  const labels = routerLabels(o.service);
  const routes = routerRoutes(o.listens, o.decoyIp);
  const lowPort = routes.some((r) => r.port < 1024);
  const ports = new Map<number, string | undefined>();
  for (const l of o.listens) if (!ports.has(l.port) || l.portName) ports.set(l.port, l.portName);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: o.namespace, labels },
    spec: {
      // The Service points here: if the pod dies or its node drains, the cluster makes another.
      replicas: 1,
      selector: { matchLabels: routerSelector(o.service) },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 2,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: RELAY_UID,
            runAsGroup: RELAY_UID,
            seccompProfile: { type: 'RuntimeDefault' },
            // A Service's targetPort may be 80: let the non-root router bind it (a namespaced, "safe" sysctl).
            ...(lowPort ? { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] } : {}),
          },
          containers: [
            {
              name: 'router',
              image: o.image,
              command: ['node', `${RELAY_MOUNT_PATH}/${RELAY_BUNDLE_KEY}`],
              env: [
                { name: ENV.mode, value: 'router' },
                { name: ENV.port, value: String(RELAY_PORT) },
                { name: ENV.routes, value: JSON.stringify(routes) },
                { name: ENV.token, valueFrom: { secretKeyRef: { name, key: 'token' } } },
              ],
              ports: [...ports].map(([port, portName]) => ({
                ...(portName ? { name: portName } : {}),
                containerPort: port,
                protocol: 'TCP',
              })),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
              },
              resources: {
                requests: { cpu: '50m', memory: '64Mi' },
                limits: { cpu: '1', memory: '512Mi' },
              },
              terminationMessagePolicy: 'FallbackToLogsOnError',
              volumeMounts: [{ name: 'router', mountPath: RELAY_MOUNT_PATH, readOnly: true }],
            },
          ],
          volumes: [{ name: 'router', configMap: { name, defaultMode: 0o444 } }],
        },
      },
    },
  };
}
