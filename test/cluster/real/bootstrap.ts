// What a fresh real world holds once its API server answers: the users of
// the kubeconfig contexts (ServiceAccounts bound to docs/rbac.md's Role,
// read from that page, so the world and the docs cannot drift), CoreDNS,
// and the same workloads as the stand-in (manifests.ts).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { KObject } from '../apiserver/objects.js';
import type { Addressing } from '../ip-families.js';
import { type Manifest, worldManifests } from '../manifests.js';
import type { Programs } from '../programs/build.js';
import { AdminApi, AdminApiError } from './admin-api.js';
import { corefile } from './config-files.js';

// biome-ignore lint/suspicious/noExplicitAny: manifests are JSON
type Json = any;

export const COREDNS_IMAGE = 'registry.k8s.io/coredns/coredns:v1.12.4';
const RBAC_DOC = fileURLToPath(new URL('../../../docs/rbac.md', import.meta.url));
/** A month: the world's tokens outlive any test run. */
const TOKEN_SECONDS = 30 * 24 * 3600;

/**
 * docs/rbac.md's Roles, as JSON, through kubectl's own YAML reader: the
 * minimal Role (its first yaml block) and the optional reads (`kvpn-reader`).
 */
export async function documentedRoles(adminKubeconfig: string): Promise<{ minimal: Json; reader: Json }> {
  const text = await readFile(RBAC_DOC, 'utf8');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const roles: Json[] = [];
  for (const yaml of blocks) {
    const json = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        'kubectl',
        ['--kubeconfig', adminKubeconfig, 'create', '--dry-run=client', '-o', 'json', '-f', '-'],
        (err, stdout, stderr) => (err ? reject(new Error(`kubectl: ${stderr || err.message}`)) : resolve(stdout)),
      );
      child.stdin?.end(yaml);
    });
    // One JSON document per YAML document, back to back.
    const docs = JSON.parse(`[${json.trim().replace(/}\n{/g, '},{')}]`) as Json[];
    roles.push(...docs.flatMap((d) => (d.kind === 'List' ? d.items : [d])).filter((o: Json) => o.kind === 'Role'));
  }
  const minimal = roles[0];
  const reader = roles.find((r) => r.metadata?.name === 'kvpn-reader');
  if (!minimal || !reader) throw new Error('docs/rbac.md: expected the kvpn Role and the kvpn-reader Role');
  return { minimal, reader };
}

async function create(api: AdminApi, m: Manifest): Promise<KObject> {
  const ns = m.object.metadata.namespace ?? 'default';
  try {
    return await api.request('POST', AdminApi.path(m.key, ns), m.object);
  } catch (err) {
    if (err instanceof AdminApiError && err.status === 409) return m.object; // namespaces, kubernetes Service
    throw err;
  }
}

function obj(key: string, object: Json): Manifest {
  return { key, object };
}

function roleBinding(name: string, role: string, sa: string): Manifest {
  return obj('rbac.authorization.k8s.io/rolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace: 'default' },
    subjects: [{ kind: 'ServiceAccount', name: sa, namespace: 'default' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
  });
}

/**
 * The contexts' users, as in the stand-in (kubeconfig.ts): staging holds the
 * minimal Role, staging-reader also the optional reads, no-portforward both
 * without pods/portforward.
 */
function userManifests(roles: { minimal: Json; reader: Json }): Manifest[] {
  const sa = (name: string): Manifest => obj('serviceaccounts', { metadata: { name, namespace: 'default' } });
  const role = (name: string, rules: Json[]): Manifest =>
    obj('rbac.authorization.k8s.io/roles', { ...roles.minimal, metadata: { name, namespace: 'default' }, rules });
  const withoutPortForward = [...roles.minimal.rules, ...roles.reader.rules].filter(
    (r: Json) => !r.resources.includes('pods/portforward'),
  );
  return [
    sa('staging'),
    sa('staging-reader'),
    sa('no-portforward'),
    role('kvpn', roles.minimal.rules),
    role('kvpn-reader', roles.reader.rules),
    role('kvpn-no-portforward', withoutPortForward),
    roleBinding('kvpn-staging', 'kvpn', 'staging'),
    roleBinding('kvpn-staging-reader', 'kvpn', 'staging-reader'),
    roleBinding('kvpn-reader-staging-reader', 'kvpn-reader', 'staging-reader'),
    roleBinding('kvpn-no-portforward', 'kvpn-no-portforward', 'no-portforward'),
  ];
}

/** CoreDNS as kubeadm deploys it (its ServiceAccount, ClusterRole, Corefile), one replica. */
function corednsManifests(clusterDomain: string): Manifest[] {
  const labels = { 'k8s-app': 'kube-dns' };
  return [
    obj('serviceaccounts', { metadata: { name: 'coredns', namespace: 'kube-system' } }),
    obj('rbac.authorization.k8s.io/clusterroles', {
      metadata: { name: 'system:coredns' },
      rules: [
        { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    }),
    obj('rbac.authorization.k8s.io/clusterrolebindings', {
      metadata: { name: 'system:coredns' },
      subjects: [{ kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
    }),
    obj('configmaps', {
      metadata: { name: 'coredns', namespace: 'kube-system' },
      data: { Corefile: corefile(clusterDomain) },
    }),
    obj('apps/deployments', {
      metadata: { name: 'coredns', namespace: 'kube-system', labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'coredns',
            dnsPolicy: 'Default',
            containers: [
              {
                name: 'coredns',
                image: COREDNS_IMAGE,
                imagePullPolicy: 'IfNotPresent',
                args: ['-conf', '/etc/coredns/Corefile'],
                ports: [
                  { name: 'dns', containerPort: 53, protocol: 'UDP' },
                  { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
                  { name: 'metrics', containerPort: 9153, protocol: 'TCP' },
                ],
                volumeMounts: [{ name: 'config-volume', mountPath: '/etc/coredns', readOnly: true }],
                readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 1 },
              },
            ],
            volumes: [{ name: 'config-volume', configMap: { name: 'coredns' } }],
            terminationGracePeriodSeconds: 1,
          },
        },
      },
    }),
  ];
}

/**
 * The stand-in's workloads, minus what a real control plane makes itself or
 * we replace (its DNS). The cluster DNS Service takes the plan's address (it
 * is of the primary family, so IPv6 on an IPv6-only cluster); on a
 * dual-stack cluster every other Service asks for both families, as
 * dual-stack applications' Services do (kube-dns stays single-stack, as
 * kubeadm leaves it).
 */
async function workloadManifests(programs: Programs, clusterDomain: string, A: Addressing): Promise<Manifest[]> {
  const [echo, udpEcho] = await Promise.all([readFile(programs.echo, 'utf8'), readFile(programs.udpEcho, 'utf8')]);
  return worldManifests({ echo, udpEcho }, '/nonexistent', A.serviceCidrs[0] as string, false, clusterDomain)
    .filter((m) => !(m.key === 'apps/deployments' && m.object.metadata.name === 'coredns'))
    .filter((m) => !(m.key === 'services' && m.object.metadata.name === 'kubernetes'))
    .map((m) => {
      // No registry: the images are imported; never try to pull.
      for (const c of m.object.spec?.template?.spec?.containers ?? []) c.imagePullPolicy = 'IfNotPresent';
      if (m.key !== 'services') return m;
      if (m.object.metadata.name === 'kube-dns') m.object.spec.clusterIP = A.dnsServiceIp;
      else if (A.families === 'dual' && m.object.spec.type !== 'ExternalName')
        m.object.spec.ipFamilyPolicy = 'PreferDualStack';
      return m;
    });
}

export interface BootstrapResult {
  stagingToken: string;
  execToken: string;
  noPortForwardToken: string;
  readerToken: string;
}

export async function bootstrap(
  api: AdminApi,
  adminKubeconfig: string,
  programs: Programs,
  clusterDomain: string,
  A: Addressing,
): Promise<BootstrapResult> {
  const roles = await documentedRoles(adminKubeconfig);
  const workloads = await workloadManifests(programs, clusterDomain, A);
  const namespaces = workloads.filter((m) => m.key === 'namespaces');
  for (const m of namespaces) await create(api, m);
  for (const m of [...userManifests(roles), ...corednsManifests(clusterDomain)]) await create(api, m);
  for (const m of workloads.filter((w) => w.key !== 'namespaces')) await create(api, m);
  const token = async (sa: string): Promise<string> => {
    const r = await api.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/default/serviceaccounts/${sa}/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: TOKEN_SECONDS } },
    );
    return r.status.token;
  };
  return {
    stagingToken: await token('staging'),
    execToken: await token('staging'),
    noPortForwardToken: await token('no-portforward'),
    readerToken: await token('staging-reader'),
  };
}
