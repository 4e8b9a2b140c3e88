// Reads what a container's environment is made of through the user's
// kubeconfig: the workload and its pod template, a running pod (the one
// named, else a Ready one), the ConfigMaps and Secrets the container names,
// the Services of the namespace and `default/kubernetes`, and the pod's Node
// (only for limits left unset; not readable → those values are unavailable).
// Requests (RBAC in docs/rbac.md): get on the workload, list pods, get on
// each referenced ConfigMap/Secret, list services, get node (optional).
import { KubeApiError, type KubeClient } from '../kube/client.js';
import type { EnvironmentInputs } from './environment.js';
import { UnknownContainerError, UnknownPodError, UnknownWorkloadError, WorkloadKindNeededError } from './errors.js';
import type { ConfigMap, Container, Node, Pod, PodSpec, Secret, Service } from './types.js';
import { KINDS, parseWorkloadRef, selectorQuery, type WorkloadKind, type WorkloadObject } from './workload-ref.js';

export interface WorkloadQuery {
  workload: string;
  container?: string | undefined;
  pod?: string | undefined;
}

export interface WorkloadInputs extends EnvironmentInputs {
  /** kind/name as found, e.g. "Deployment/web". */
  workload: string;
  containerName: string;
  podName: string | undefined;
}

const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

async function getOrUndefined<T>(client: KubeClient, path: string): Promise<T | undefined> {
  try {
    return await client.request<T>('GET', path);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    throw err;
  }
}

function path(kind: WorkloadKind, ns: string, name: string): string {
  return `${kind.collection.replace('{ns}', encodeURIComponent(ns))}/${encodeURIComponent(name)}`;
}

export async function findWorkload(
  client: KubeClient,
  ns: string,
  text: string,
): Promise<[WorkloadKind, WorkloadObject]> {
  const ref = parseWorkloadRef(text);
  const kinds = ref.kind ? [ref.kind] : [KINDS.Deployment as WorkloadKind, KINDS.Pod as WorkloadKind];
  for (const kind of kinds) {
    const obj = await getOrUndefined<WorkloadObject>(client, path(kind, ns, ref.name));
    if (obj) return [kind, obj];
  }
  if (!ref.kind) {
    const others = await otherKindsNamed(client, ns, ref.name);
    if (others.length) throw new WorkloadKindNeededError(ref.name, ns, others);
  }
  const tried = kinds.map((k) => k.kind).join(' or ');
  throw new UnknownWorkloadError(`${tried} "${ref.name}"`, ns);
}

/** kind/name of the other workloads called `name` (kinds the user may not read are passed over). */
async function otherKindsNamed(client: KubeClient, ns: string, name: string): Promise<string[]> {
  const others = Object.values(KINDS).filter((k) => k.kind !== 'Deployment' && k.kind !== 'Pod');
  const found = await Promise.all(
    others.map(async (kind) => {
      try {
        return (await getOrUndefined(client, path(kind, ns, name))) ? `${kind.kind.toLowerCase()}/${name}` : undefined;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 403) return undefined;
        throw err;
      }
    }),
  );
  return found.filter((f): f is string => f !== undefined);
}

function isReady(p: Pod): boolean {
  return (
    p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

async function findPod(
  client: KubeClient,
  ns: string,
  kind: WorkloadKind,
  obj: WorkloadObject,
  wanted?: string,
): Promise<Pod | undefined> {
  const label = `${kind.kind}/${obj.metadata.name}`;
  if (kind.kind === 'Pod') {
    if (wanted && wanted !== obj.metadata.name) throw new UnknownPodError(wanted, label);
    return obj as unknown as Pod;
  }
  const selectors = kind.kind === 'CronJob' ? await cronJobSelectors(client, ns, obj) : [obj.spec?.selector];
  const pods: Pod[] = [];
  for (const selector of selectors) {
    if (!selector) continue;
    const list = await client.request<{ items: Pod[] }>('GET', `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`, {
      query: { labelSelector: selectorQuery(selector) },
    });
    pods.push(...list.items.filter((p) => !(p.metadata as { deletionTimestamp?: string }).deletionTimestamp));
  }
  if (wanted) {
    const found = pods.find((p) => p.metadata.name === wanted);
    if (!found) throw new UnknownPodError(wanted, label);
    return found;
  }
  // The newest Ready pod: the one most like what a new container would get.
  const ready = pods
    .filter(isReady)
    .sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''));
  return ready[0];
}

/** How many of a CronJob's Jobs, newest first, are searched for a running pod. */
const CRONJOB_JOBS_SEARCHED = 5;

/** A CronJob's pods belong to the Jobs it owns (ownerReferences): their selectors, newest Job first. */
async function cronJobSelectors(
  client: KubeClient,
  ns: string,
  cronJob: WorkloadObject,
): Promise<NonNullable<WorkloadObject['spec']>['selector'][]> {
  const list = await client.request<{ items: WorkloadObject[] }>(
    'GET',
    `/apis/batch/v1/namespaces/${encodeURIComponent(ns)}/jobs`,
  );
  return list.items
    .filter((job) => job.metadata.ownerReferences?.some((o) => o.kind === 'CronJob' && o.uid === cronJob.metadata.uid))
    .sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''))
    .slice(0, CRONJOB_JOBS_SEARCHED)
    .map((job) => job.spec?.selector);
}

function pickContainer(
  label: string,
  spec: PodSpec,
  annotations: Record<string, string> | undefined,
  wanted?: string,
): Container {
  const all = [...spec.containers, ...(spec.initContainers ?? [])];
  const name = wanted ?? annotations?.[DEFAULT_CONTAINER_ANNOTATION] ?? spec.containers[0]?.name;
  const found = all.find((c) => c.name === name);
  if (!found)
    throw new UnknownContainerError(
      label,
      name ?? '',
      all.map((c) => c.name),
    );
  return found;
}

export async function readWorkloadInputs(client: KubeClient, query: WorkloadQuery): Promise<WorkloadInputs> {
  const ns = client.namespace;
  const { workload: label, pod, container, spec } = await readWorkloadPod(client, query);

  const cmNames = new Set<string>();
  const secretNames = new Set<string>();
  for (const f of container.envFrom ?? []) {
    if (f.configMapRef) cmNames.add(f.configMapRef.name);
    if (f.secretRef) secretNames.add(f.secretRef.name);
  }
  for (const v of container.env ?? []) {
    if (v.valueFrom?.configMapKeyRef) cmNames.add(v.valueFrom.configMapKeyRef.name);
    if (v.valueFrom?.secretKeyRef) secretNames.add(v.valueFrom.secretKeyRef.name);
  }
  const nsPath = `/api/v1/namespaces/${encodeURIComponent(ns)}`;
  const fetchAll = async <T>(names: Set<string>, plural: string) =>
    new Map(
      (
        await Promise.all(
          [...names].map(
            async (n) => [n, await getOrUndefined<T>(client, `${nsPath}/${plural}/${encodeURIComponent(n)}`)] as const,
          ),
        )
      ).filter((e): e is readonly [string, Awaited<T>] => e[1] !== undefined),
    );
  const [configMaps, secrets, services, master, node] = await Promise.all([
    fetchAll<ConfigMap>(cmNames, 'configmaps'),
    fetchAll<Secret>(secretNames, 'secrets'),
    client.request<{ items: Service[] }>('GET', `${nsPath}/services`),
    ns === 'default' ? undefined : readMasterService(client),
    readNode(client, pod),
  ]);
  for (const s of services.items) s.metadata.namespace ??= ns;
  return {
    workload: label,
    containerName: container.name,
    podName: pod?.metadata.name,
    facts: { namespace: ns, spec, pod, node },
    container,
    configMaps: configMaps as Map<string, ConfigMap>,
    secrets: secrets as Map<string, Secret>,
    services: [...services.items, ...(master && master !== 'forbidden' ? [master] : [])],
    unreadableServices: master === 'forbidden' ? ['kubernetes'] : [],
  };
}

/** default/kubernetes, linked into every pod; many users may not read the default namespace. */
async function readMasterService(client: KubeClient): Promise<Service | 'forbidden' | undefined> {
  try {
    return await getOrUndefined<Service>(client, '/api/v1/namespaces/default/services/kubernetes');
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403) return 'forbidden';
    throw err;
  }
}

/** The pod's Node, for allocatable; a user without `get nodes` gets "unavailable" values, not an error. */
async function readNode(client: KubeClient, pod: Pod | undefined): Promise<Node | undefined> {
  const name = pod?.spec.nodeName;
  if (!name) return undefined;
  try {
    return await client.request<Node>('GET', `/api/v1/nodes/${encodeURIComponent(name)}`);
  } catch (err) {
    if (err instanceof KubeApiError && (err.status === 403 || err.status === 404)) return undefined;
    throw err;
  }
}

/** The workload's running pod (the one named, else the newest Ready one) and the container picked in it. */
export async function readWorkloadPod(
  client: KubeClient,
  query: WorkloadQuery,
): Promise<{ workload: string; pod: Pod | undefined; spec: PodSpec; container: Container }> {
  const ns = client.namespace;
  const [kind, obj] = await findWorkload(client, ns, query.workload);
  const label = `${kind.kind}/${obj.metadata.name}`;
  const template = kind.template(obj);
  if (!template) throw new UnknownWorkloadError(label, ns, ' with a pod template');
  const pod = await findPod(client, ns, kind, obj, query.pod);
  // The running pod's own spec is what its kubelet used (it may predate a template change).
  const spec = pod?.spec ?? template.spec;
  const annotations = pod?.metadata.annotations ?? template.metadata?.annotations;
  return { workload: label, pod, spec, container: pickContainer(label, spec, annotations, query.container) };
}
