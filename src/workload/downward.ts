// Downward API values for env: fieldRef (kubelet podFieldSelectorRuntimeValue
// and fieldpath.ExtractFieldPathAsString) and resourceFieldRef (kubelet
// containerResourceRuntimeValue after defaultPodLimitsForDownwardAPI). What
// only a running pod knows is "unavailable" without one, never guessed.
import { UnsupportedReferenceError } from './errors.js';
import { integerValue, isZero, milliValueOf, parseQuantity, type Quantity } from './quantity.js';
import type { Container, EnvVarSource, Node, Pod, PodSpec, ResourceList } from './types.js';

export type Resolved = { value: string } | { unavailable: string };

/** What is known about the pod the container runs in. */
export interface PodFacts {
  namespace: string;
  /** The pod spec the container comes from (a running pod's, else the workload's template). */
  spec: PodSpec;
  /** A running pod of the workload, when there is one. */
  pod?: Pod | undefined;
  /** The node that pod runs on, when readable: its allocatable stands in for unset limits. */
  node?: Node | undefined;
}

const NO_POD = 'no running pod of the workload (pass --pod, or start one)';

function fromPod(facts: PodFacts, what: string, read: (pod: Pod) => string | undefined): Resolved {
  if (!facts.pod) return { unavailable: NO_POD };
  const value = read(facts.pod);
  return value === undefined ? { unavailable: `the pod has no ${what} yet` } : { value };
}

/** The `['key']` subscript of `metadata.labels['key']`, as fieldpath.SplitMaybeSubscriptedPath reads it. */
function subscript(path: string): [string, string] | undefined {
  if (!path.endsWith("']")) return undefined;
  const at = path.indexOf("['");
  if (at <= 0) return undefined;
  return [path.slice(0, at), path.slice(at + 2, -2)];
}

export function fieldRefValue(variable: string, ref: NonNullable<EnvVarSource['fieldRef']>, facts: PodFacts): Resolved {
  const path = ref.fieldPath;
  const sub = subscript(path);
  if (sub) {
    const [base, key] = sub;
    if (base === 'metadata.labels') return fromPod(facts, 'labels', (p) => p.metadata.labels?.[key] ?? '');
    if (base === 'metadata.annotations')
      return fromPod(facts, 'annotations', (p) => p.metadata.annotations?.[key] ?? '');
    throw new UnsupportedReferenceError(variable, `fieldPath "${path}" does not support a subscript`);
  }
  switch (path) {
    case 'metadata.namespace':
      return { value: facts.pod?.metadata.namespace ?? facts.namespace };
    case 'metadata.name':
      return fromPod(facts, 'name', (p) => p.metadata.name);
    case 'metadata.uid':
      return fromPod(facts, 'uid', (p) => p.metadata.uid);
    case 'spec.nodeName':
      return fromPod(facts, 'node', (p) => p.spec.nodeName);
    case 'spec.serviceAccountName':
      // Admission fills it in on the pod; the template may leave it empty.
      return fromPod(facts, 'service account', (p) => p.spec.serviceAccountName);
    case 'status.hostIP':
      return fromPod(facts, 'host IP', (p) => hostIPs(p)[0]);
    case 'status.hostIPs':
      return fromPod(facts, 'host IPs', (p) => (hostIPs(p).length ? hostIPs(p).join(',') : undefined));
    case 'status.podIP':
      return fromPod(facts, 'pod IP', (p) => podIPs(p)[0]);
    case 'status.podIPs':
      return fromPod(facts, 'pod IPs', (p) => (podIPs(p).length ? podIPs(p).join(',') : undefined));
  }
  throw new UnsupportedReferenceError(variable, `fieldPath "${path}" is not one the Downward API gives to env`);
}

function hostIPs(p: Pod): string[] {
  const list = p.status?.hostIPs?.map((x) => x.ip) ?? [];
  return list.length ? list : p.status?.hostIP ? [p.status.hostIP] : [];
}

function podIPs(p: Pod): string[] {
  const list = p.status?.podIPs?.map((x) => x.ip) ?? [];
  return list.length ? list : p.status?.podIP ? [p.status.podIP] : [];
}

const DOWNWARD_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'] as const;
const HUGE_PAGES_PREFIX = 'hugepages-';
/** Pod-level limits stand in for cpu and memory only (IsSupportedPodLevelResource, v1.34). */
const POD_LEVEL_RESOURCES = new Set(['cpu', 'memory']);

function quantity(list: ResourceList | undefined, name: string): Quantity | undefined {
  const raw = list?.[name];
  return raw === undefined ? undefined : parseQuantity(raw);
}

/**
 * The limit the kubelet uses: the container's, else the pod-level limit,
 * else the node's allocatable (MergeContainerResourceLimits); undefined when
 * that depends on a node kvpn could not read.
 */
function effectiveLimit(container: Container, facts: PodFacts, name: string): Quantity | undefined {
  const own = quantity(container.resources?.limits, name);
  if (own && !isZero(own)) return own;
  const podLevel = POD_LEVEL_RESOURCES.has(name) ? quantity(facts.spec.resources?.limits, name) : undefined;
  if (podLevel && !isZero(podLevel)) return podLevel;
  const allocatable = facts.node?.status?.allocatable;
  if (!allocatable) return undefined;
  // A resource the node does not report stays unset: zero, as Quantity{} reads.
  return quantity(allocatable, name) ?? own ?? { num: 0n, den: 1n };
}

/** The request the API server stores: an unset request defaults to the limit (pod defaulting). */
function effectiveRequest(container: Container, name: string): Quantity {
  return (
    quantity(container.resources?.requests, name) ?? quantity(container.resources?.limits, name) ?? { num: 0n, den: 1n }
  );
}

export function resourceFieldRefValue(
  variable: string,
  ref: NonNullable<EnvVarSource['resourceFieldRef']>,
  container: Container,
  facts: PodFacts,
): Resolved {
  let target = container;
  if (ref.containerName) {
    const found = [...facts.spec.containers, ...(facts.spec.initContainers ?? [])].find(
      (c) => c.name === ref.containerName,
    );
    if (!found)
      throw new UnsupportedReferenceError(variable, `resourceFieldRef names no container "${ref.containerName}"`);
    target = found;
  }
  const [kind, name] = ref.resource.split('.', 2) as [string, string | undefined];
  const hugePages = name?.startsWith(HUGE_PAGES_PREFIX) ?? false;
  if ((kind !== 'limits' && kind !== 'requests') || !(hugePages || DOWNWARD_RESOURCES.includes(name as never))) {
    throw new UnsupportedReferenceError(
      variable,
      `resource "${ref.resource}" is not one the Downward API gives (cpu, memory, ephemeral-storage, hugepages-*)`,
    );
  }
  // Huge pages are never overcommitted: no node default, an unset limit reads as 0.
  const amount =
    kind === 'requests'
      ? effectiveRequest(target, name as string)
      : hugePages
        ? (quantity(target.resources?.limits, name as string) ?? { num: 0n, den: 1n })
        : effectiveLimit(target, facts, name as string);
  if (!amount) {
    return {
      unavailable: `${target.name} sets no ${ref.resource}, and the node's allocatable (its default) is not readable`,
    };
  }
  const given = ref.divisor === undefined ? undefined : parseQuantity(ref.divisor);
  const divisor = !given || isZero(given) ? { num: 1n, den: 1n } : given;
  // The kubelet divides in float64 and rounds up (convertResource*ToString).
  const ratio =
    name === 'cpu'
      ? Number(milliValueOf(amount)) / Number(milliValueOf(divisor))
      : Number(integerValue(amount)) / Number(integerValue(divisor));
  return { value: String(Math.ceil(ratio)) };
}
