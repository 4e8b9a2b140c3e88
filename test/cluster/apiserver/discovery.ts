// Legacy discovery documents (/api, /apis, /api/v1, /apis/G, /apis/G/V) and
// /version, which kubectl and client libraries read before anything else.
import { K8S_VERSION } from '../world-config.js';
import { groupVersion, type ResourceDef, type ResourceTable } from './resources.js';

const SUBRESOURCE_SHAPE: Record<string, { verbs: string[]; kind?: string; group?: string; version?: string }> = {
  status: { verbs: ['get', 'patch', 'update'] },
  log: { verbs: ['get'] },
  portforward: { verbs: ['create', 'get'], kind: 'PodPortForwardOptions' },
  exec: { verbs: ['create', 'get'], kind: 'PodExecOptions' },
  attach: { verbs: ['create', 'get'], kind: 'PodAttachOptions' },
  binding: { verbs: ['create'], kind: 'Binding' },
  eviction: { verbs: ['create'], kind: 'Eviction', group: 'policy', version: 'v1' },
  ephemeralcontainers: { verbs: ['get', 'patch', 'update'] },
  proxy: { verbs: ['create', 'delete', 'get', 'patch', 'update'], kind: 'ServiceProxyOptions' },
  finalize: { verbs: ['update'] },
  token: { verbs: ['create'], kind: 'TokenRequest', group: 'authentication.k8s.io', version: 'v1' },
  scale: { verbs: ['get', 'patch', 'update'], kind: 'Scale', group: 'autoscaling', version: 'v1' },
};

function apiResource(r: ResourceDef): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: r.resource,
    singularName: r.singular,
    namespaced: r.namespaced,
    kind: r.kind,
    verbs: r.verbs,
  };
  if (r.shortNames) out.shortNames = r.shortNames;
  if (r.categories) out.categories = r.categories;
  return out;
}

export function versionInfo(): Record<string, string> {
  return {
    major: K8S_VERSION.major,
    minor: K8S_VERSION.minor,
    gitVersion: K8S_VERSION.gitVersion,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: 'go1.23.6',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export function coreVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupEntry(group: string, versions: string[]): Record<string, unknown> {
  const vs = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions: vs, preferredVersion: vs[0] };
}

export function groupList(table: ResourceTable): Record<string, unknown> {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: table.groups().map((g) => groupEntry(g.group, g.versions)),
  };
}

export function group(table: ResourceTable, name: string): Record<string, unknown> | undefined {
  const g = table.groups().find((x) => x.group === name);
  if (!g) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(g.group, g.versions) };
}

export function resourceList(
  table: ResourceTable,
  groupName: string,
  version: string,
): Record<string, unknown> | undefined {
  const rs = table.all().filter((r) => r.group === groupName && r.version === version);
  if (rs.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const r of rs) {
    resources.push(apiResource(r));
    for (const sub of r.subresources ?? []) {
      const shape = SUBRESOURCE_SHAPE[sub] ?? { verbs: ['get'] };
      const entry: Record<string, unknown> = {
        name: `${r.resource}/${sub}`,
        singularName: '',
        namespaced: r.namespaced,
        kind: shape.kind ?? r.kind,
        verbs: shape.verbs,
      };
      if (shape.group) entry.group = shape.group;
      if (shape.version) entry.version = shape.version;
      resources.push(entry);
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion(rs[0] as ResourceDef), resources };
}

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** /openapi/v3: where each group-version's document is. */
export function openapiV3Root(table: ResourceTable): Record<string, unknown> {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const r of table.all()) {
    const p = gvPath(r.group, r.version);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${table.all().length}` };
  }
  return { paths };
}

/**
 * /openapi/v3/<gv>: a document with one operation per resource path, enough
 * for kubectl to see that the server validates fields itself (the
 * fieldValidation parameter on PATCH, tagged with the GVK). No schemas:
 * kubectl then computes apply patches from its compiled-in types.
 */
export function openapiV3GroupVersion(table: ResourceTable, path: string): Record<string, unknown> | undefined {
  const rs = table.all().filter((r) => gvPath(r.group, r.version) === path);
  if (rs.length === 0) return undefined;
  const params = ['dryRun', 'fieldManager', 'fieldValidation', 'pretty'].map((name) => ({
    name,
    in: 'query',
    schema: { type: 'string', uniqueItems: true },
  }));
  const paths: Record<string, unknown> = {};
  for (const r of rs) {
    const gvk = { group: r.group, version: r.version, kind: r.kind };
    const op = (verb: string): Record<string, unknown> => ({
      operationId: `${verb}${r.kind}`,
      parameters: params,
      'x-kubernetes-action': verb,
      'x-kubernetes-group-version-kind': gvk,
      responses: { '200': { description: 'OK' } },
    });
    const base = `/${path}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`;
    paths[base] = { post: op('post'), get: op('list') };
    paths[`${base}/{name}`] = { get: op('get'), put: op('put'), patch: op('patch'), delete: op('delete') };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.4' }, paths, components: { schemas: {} } };
}
