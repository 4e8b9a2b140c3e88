// Workload names in kubectl's syntax (`deploy/web`, `statefulset/db`,
// `pod/x`, a bare name) and where each kind keeps its pod template.
import { UnknownWorkloadKindError } from './errors.js';
import type { ObjectMeta, PodSpec } from './types.js';

export interface WorkloadKind {
  kind: string;
  /** API path of the collection, with {ns}. */
  collection: string;
  /** The pod template of an object of this kind (a Pod is its own). */
  template(obj: WorkloadObject): { metadata?: ObjectMeta; spec: PodSpec } | undefined;
}

export interface WorkloadObject {
  metadata: ObjectMeta;
  spec?: Record<string, unknown> & {
    selector?: { matchLabels?: Record<string, string>; matchExpressions?: LabelExpression[] };
  };
}

export interface LabelExpression {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

type Template = { metadata?: ObjectMeta; spec: PodSpec } | undefined;
const podTemplate = (o: WorkloadObject): Template => o.spec?.template as Template;

export const KINDS: Record<string, WorkloadKind> = {
  Deployment: { kind: 'Deployment', collection: '/apis/apps/v1/namespaces/{ns}/deployments', template: podTemplate },
  StatefulSet: { kind: 'StatefulSet', collection: '/apis/apps/v1/namespaces/{ns}/statefulsets', template: podTemplate },
  DaemonSet: { kind: 'DaemonSet', collection: '/apis/apps/v1/namespaces/{ns}/daemonsets', template: podTemplate },
  ReplicaSet: { kind: 'ReplicaSet', collection: '/apis/apps/v1/namespaces/{ns}/replicasets', template: podTemplate },
  Job: { kind: 'Job', collection: '/apis/batch/v1/namespaces/{ns}/jobs', template: podTemplate },
  CronJob: {
    kind: 'CronJob',
    collection: '/apis/batch/v1/namespaces/{ns}/cronjobs',
    template: (o) => (o.spec?.jobTemplate as { spec?: { template?: Template } } | undefined)?.spec?.template,
  },
  Pod: {
    kind: 'Pod',
    collection: '/api/v1/namespaces/{ns}/pods',
    template: (o) => ({ metadata: o.metadata, spec: o.spec as unknown as PodSpec }),
  },
};

/** kubectl's names, short names and plurals for each kind. */
const ALIASES: Record<string, string> = {};
for (const [kind, names] of Object.entries({
  Deployment: ['deploy', 'deployment', 'deployments'],
  StatefulSet: ['sts', 'statefulset', 'statefulsets'],
  DaemonSet: ['ds', 'daemonset', 'daemonsets'],
  ReplicaSet: ['rs', 'replicaset', 'replicasets'],
  Job: ['job', 'jobs'],
  CronJob: ['cj', 'cronjob', 'cronjobs'],
  Pod: ['po', 'pod', 'pods'],
})) {
  for (const n of names) ALIASES[n] = kind;
}

export interface WorkloadRef {
  /** Undefined for a bare name: a Deployment, else a Pod. */
  kind: WorkloadKind | undefined;
  name: string;
}

export function parseWorkloadRef(text: string): WorkloadRef {
  const slash = text.indexOf('/');
  if (slash === -1) return { kind: undefined, name: text };
  const alias = text
    .slice(0, slash)
    .toLowerCase()
    .replace(/\.(apps|batch)$/, '');
  const kind = ALIASES[alias];
  if (!kind) throw new UnknownWorkloadKindError(text.slice(0, slash));
  return { kind: KINDS[kind], name: text.slice(slash + 1) };
}

/** A label selector as the API's `labelSelector` query parameter spells it. */
export function selectorQuery(selector: NonNullable<WorkloadObject['spec']>['selector']): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.join(',');
}
