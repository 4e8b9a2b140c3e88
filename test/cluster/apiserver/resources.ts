// The resource types the stand-in serves, with what discovery says about
// them (verbs, namespaced, short names) and where each is stored.

export interface ResourceDef {
  group: string;
  version: string;
  /** Plural, lower case: "pods". */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  subresources?: string[];
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const NO_COLLECTION_DELETE = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

function def(
  group: string,
  version: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  extra: Partial<ResourceDef> = {},
): ResourceDef {
  return {
    group,
    version,
    resource,
    kind,
    namespaced,
    singular: kind.toLowerCase(),
    verbs: ALL_VERBS,
    ...extra,
  };
}

export const RESOURCES: readonly ResourceDef[] = [
  def('', 'v1', 'namespaces', 'Namespace', false, {
    shortNames: ['ns'],
    verbs: NO_COLLECTION_DELETE,
    subresources: ['status', 'finalize'],
  }),
  def('', 'v1', 'nodes', 'Node', false, { shortNames: ['no'], subresources: ['status', 'proxy'] }),
  def('', 'v1', 'pods', 'Pod', true, {
    shortNames: ['po'],
    categories: ['all'],
    subresources: ['status', 'log', 'portforward', 'exec', 'attach', 'binding', 'eviction', 'ephemeralcontainers'],
  }),
  def('', 'v1', 'services', 'Service', true, {
    shortNames: ['svc'],
    categories: ['all'],
    verbs: NO_COLLECTION_DELETE,
    subresources: ['status', 'proxy'],
  }),
  def('', 'v1', 'endpoints', 'Endpoints', true, { shortNames: ['ep'], singular: 'endpoints' }),
  def('', 'v1', 'configmaps', 'ConfigMap', true, { shortNames: ['cm'] }),
  def('', 'v1', 'secrets', 'Secret', true),
  def('', 'v1', 'serviceaccounts', 'ServiceAccount', true, { shortNames: ['sa'], subresources: ['token'] }),
  def('', 'v1', 'events', 'Event', true, { shortNames: ['ev'] }),
  def('apps', 'v1', 'deployments', 'Deployment', true, {
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: ['status', 'scale'],
  }),
  def('apps', 'v1', 'replicasets', 'ReplicaSet', true, {
    shortNames: ['rs'],
    categories: ['all'],
    subresources: ['status', 'scale'],
  }),
  def('apps', 'v1', 'statefulsets', 'StatefulSet', true, {
    shortNames: ['sts'],
    categories: ['all'],
    subresources: ['status', 'scale'],
  }),
  def('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', true),
  def('networking.k8s.io', 'v1', 'servicecidrs', 'ServiceCIDR', false, { subresources: ['status'] }),
  def('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', true, { shortNames: ['netpol'] }),
  def('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews', 'SelfSubjectAccessReview', false, {
    verbs: ['create'],
  }),
  def('authorization.k8s.io', 'v1', 'selfsubjectrulesreviews', 'SelfSubjectRulesReview', true, {
    verbs: ['create'],
  }),
  def('authentication.k8s.io', 'v1', 'selfsubjectreviews', 'SelfSubjectReview', false, { verbs: ['create'] }),
];

/** Store key of a resource: "pods", "apps/deployments". */
export function resourceKey(r: Pick<ResourceDef, 'group' | 'resource'>): string {
  return r.group ? `${r.group}/${r.resource}` : r.resource;
}

/** "pods", "deployments.apps": how Status messages name a resource. */
export function qualifiedResource(r: Pick<ResourceDef, 'group' | 'resource'>): string {
  return r.group ? `${r.resource}.${r.group}` : r.resource;
}

export function groupVersion(r: Pick<ResourceDef, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** Kinds created through review endpoints are never stored. */
export function isVirtual(r: ResourceDef): boolean {
  return r.group === 'authorization.k8s.io' || r.group === 'authentication.k8s.io';
}

export class ResourceTable {
  #enabled: (r: ResourceDef) => boolean;

  constructor(enabled: (r: ResourceDef) => boolean) {
    this.#enabled = enabled;
  }

  all(): ResourceDef[] {
    return RESOURCES.filter((r) => this.#enabled(r));
  }

  find(group: string, version: string, resource: string): ResourceDef | undefined {
    return this.all().find((r) => r.group === group && r.version === version && r.resource === resource);
  }

  byKey(key: string): ResourceDef {
    const r = RESOURCES.find((x) => resourceKey(x) === key);
    if (!r) throw new Error(`unknown resource ${key}`);
    return r;
  }

  groups(): { group: string; versions: string[] }[] {
    const out = new Map<string, Set<string>>();
    for (const r of this.all()) {
      if (!r.group) continue;
      if (!out.has(r.group)) out.set(r.group, new Set());
      out.get(r.group)?.add(r.version);
    }
    return [...out].map(([group, versions]) => ({ group, versions: [...versions] }));
  }
}
