// The Roles of docs/rbac.md, as rules doctor checks one right at a time
// (test/doctor/rights.test.ts reads them back from the page, so the two
// cannot drift). The tunnel Role `kvpn` is what `kvpn up` requires; each
// other Role makes one feature work, and its absence is a warning.

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export interface RoleSpec {
  /** The Role's name in docs/rbac.md. */
  name: string;
  /** What it is for, as a warning names it ("kvpn mount"). */
  feature: string;
  /** `kvpn up` cannot run without it. */
  required: boolean;
  rules: readonly PolicyRule[];
}

/** One RBAC right, as a SelfSubjectAccessReview asks about it. */
export interface Right {
  verb: string;
  group: string;
  resource: string;
  subresource: string;
}

const WORKLOAD_READS: PolicyRule[] = [
  { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], verbs: ['get'] },
];

export const KVPN_ROLES: readonly RoleSpec[] = [
  {
    name: 'kvpn',
    feature: 'kvpn up',
    required: true,
    rules: [
      { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
      { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
      { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['create', 'delete'] },
    ],
  },
  {
    name: 'kvpn-reader',
    feature: 'local DNS answers and the exact Service range',
    required: false,
    rules: [
      { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch', 'create'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  },
  {
    name: 'kvpn-env',
    feature: 'kvpn env',
    required: false,
    rules: [
      ...WORKLOAD_READS,
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list'] },
      { apiGroups: ['batch'], resources: ['cronjobs'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods', 'services'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['get'] },
    ],
  },
  {
    name: 'kvpn-expose',
    feature: 'kvpn expose',
    required: false,
    rules: [
      { apiGroups: [''], resources: ['services'], verbs: ['create', 'get', 'delete'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list'] },
    ],
  },
  {
    name: 'kvpn-intercept',
    feature: 'kvpn intercept',
    required: false,
    rules: [
      { apiGroups: [''], resources: ['services'], verbs: ['create', 'get', 'list', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get', 'list', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'get', 'delete'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['create', 'get', 'delete'] },
      { apiGroups: ['apps'], resources: ['statefulsets', 'daemonsets', 'replicasets'], verbs: ['get'] },
      { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['get'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list'] },
    ],
  },
  {
    name: 'kvpn-mount',
    feature: 'kvpn mount',
    required: false,
    rules: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/ephemeralcontainers'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['pods/portforward'], verbs: ['create', 'get'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
      ...WORKLOAD_READS,
      { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['get'] },
    ],
  },
];

/** Every right the rules grant, in the rules' order, each once. */
export function rightsOf(rules: readonly PolicyRule[]): Right[] {
  const out: Right[] = [];
  for (const rule of rules) {
    for (const group of rule.apiGroups) {
      for (const named of rule.resources) {
        const [resource = named, subresource = ''] = named.split('/');
        for (const verb of rule.verbs) {
          const right = { verb, group, resource, subresource };
          if (!out.some((r) => rightKey(r) === rightKey(right))) out.push(right);
        }
      }
    }
  }
  return out;
}

export function rightKey(r: Right): string {
  return `${r.verb} ${resourceName(r)}`;
}

/** As RBAC errors name it: `pods/portforward`, `deployments.apps`. */
export function resourceName(r: Right): string {
  const name = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
  return r.group ? `${name}.${r.group}` : name;
}

/**
 * Missing rights in one phrase, verbs grouped per resource:
 * `"get", "create" on "pods/portforward"; "delete" on "secrets"`.
 */
export function describeMissing(missing: readonly Right[]): string {
  const byResource = new Map<string, string[]>();
  for (const r of missing) {
    const name = resourceName(r);
    byResource.set(name, [...(byResource.get(name) ?? []), r.verb]);
  }
  return [...byResource].map(([name, verbs]) => `${verbs.map((v) => `"${v}"`).join(', ')} on "${name}"`).join('; ');
}
