// Which Service and port `kvpn intercept WORKLOAD --port L[:P]` means: the
// Services of the namespace whose selector picks the workload's pods (a
// redirected Service counts by the selector it keeps), narrowed by
// --service, and the port P by number or name (or the only port).
import type { KubeClient } from '../kube/client.js';
import { type KubeJson, LABEL_MANAGED_BY, MANAGER } from '../relay/manifest.js';
import { workloadTemplate } from '../workload/index.js';
import { InterceptError, kubeCall } from './errors.js';
import { type RouterListen, routerListens, type ServicePort } from './router-manifest.js';
import { type InterceptableService, interceptable } from './service-redirect.js';

export interface InterceptTarget {
  /** kind/name of the workload. */
  workload: string;
  service: InterceptableService;
  servicePort: ServicePort;
  /** Where the router listens for each of the Service's ports; `listen` is the intercepted one's. */
  listens: RouterListen[];
  listen: RouterListen;
}

export interface TargetQuery {
  workload: string;
  service?: string | undefined;
  /** The Service port, by number or name; default: the only one. */
  port?: string | undefined;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export async function findInterceptTarget(client: KubeClient, query: TargetQuery): Promise<InterceptTarget> {
  const ns = client.namespace;
  const workload = await workloadTemplate(client, ns, query.workload);
  const list = await kubeCall<{ items?: KubeJson[] }>(
    client,
    'list Services',
    'GET',
    `/api/v1/namespaces/${encodeURIComponent(ns)}/services`,
  );
  const candidates: { svc: KubeJson; target?: InterceptableService; why?: string }[] = [];
  for (const svc of list.items ?? []) {
    if (query.service && svc.metadata.name !== query.service) continue;
    // kvpn's own decoys select the same pods; they are never what the user means.
    if (svc.metadata.labels?.[LABEL_MANAGED_BY] === MANAGER) continue;
    try {
      const target = interceptable(svc);
      if (selects(target.selector, workload.labels)) candidates.push({ svc, target });
    } catch (err) {
      // A headless Service or one without a selector may still be the one the user named.
      const sel = svc.spec?.selector as Record<string, string> | undefined;
      if (query.service || (sel && Object.keys(sel).length && selects(sel, workload.labels)))
        candidates.push({ svc, why: (err as Error).message });
    }
  }
  if (candidates.length === 0)
    throw new InterceptError(
      'KVPN_ERR_INTERCEPT_NO_SERVICE',
      'user',
      query.service
        ? `Service ${query.service} in namespace ${ns} does not select the pods of ${workload.label}`
        : `no Service in namespace ${ns} selects the pods of ${workload.label}`,
      { remedy: 'Intercept a workload that a Service selects, or expose a port of your own with `kvpn expose`.' },
    );
  const usable = candidates.filter((c) => c.target);
  if (usable.length === 0) {
    const first = candidates[0];
    throw new InterceptError('KVPN_ERR_INTERCEPT_SERVICE', 'user', first?.why ?? 'no usable Service');
  }
  if (usable.length > 1)
    throw new InterceptError(
      'KVPN_ERR_INTERCEPT_AMBIGUOUS',
      'user',
      `several Services select the pods of ${workload.label}: ${usable.map((c) => c.svc.metadata.name).join(', ')}`,
      { remedy: 'Name one with --service NAME.' },
    );
  const service = usable[0]?.target as InterceptableService;
  const servicePort = pickPort(service, query.port);
  const named = new Map<string, number>();
  for (const c of workload.spec.containers ?? [])
    for (const p of (c as { ports?: { name?: string; containerPort: number }[] }).ports ?? [])
      if (p.name) named.set(p.name, p.containerPort);
  const listens = routerListens(service.ports, named);
  const listen = listens.find((l) => l.servicePort === servicePort) as RouterListen;
  return { workload: workload.label, service, servicePort, listens, listen };
}

function pickPort(service: InterceptableService, wanted: string | undefined): ServicePort {
  const describe = service.ports.map((p) => (p.name ? `${p.port} (${p.name})` : String(p.port))).join(', ');
  if (wanted === undefined) {
    if (service.ports.length === 1) return service.ports[0] as ServicePort;
    throw new InterceptError(
      'KVPN_ERR_INTERCEPT_PORT',
      'user',
      `Service ${service.name} has several ports: ${describe}`,
      {
        remedy: 'Say which with --port LOCALPORT:SERVICEPORT (a number or a port name).',
      },
    );
  }
  const port = service.ports.find((p) => String(p.port) === wanted || p.name === wanted);
  if (!port)
    throw new InterceptError(
      'KVPN_ERR_INTERCEPT_PORT',
      'user',
      `Service ${service.name} has no port "${wanted}" (it has ${describe})`,
      {
        remedy: 'Give one of its ports in --port LOCALPORT:SERVICEPORT.',
      },
    );
  return port;
}
