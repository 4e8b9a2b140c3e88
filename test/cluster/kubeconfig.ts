// The kubeconfig a world hands out: one cluster, contexts `staging`
// (bearer token) and `staging-exec` (token from an exec credential plugin)
// holding exactly docs/rbac.md's minimal kvpn Role in namespace default,
// `staging-reader` (that Role plus docs/rbac.md's optional reads),
// `no-portforward` (a ServiceAccount token whose Role in default is both
// without pods/portforward) and `admin` (client certificate,
// system:masters), plus the plugin script. test/cluster/rbac-doc.test.ts
// checks the Roles below against the YAML in docs/rbac.md.
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PolicyRule, UserSpec } from './apiserver/auth.js';
import type { WorldPki } from './pki.js';

export const CONTEXTS = ['staging', 'admin', 'staging-exec', 'no-portforward', 'staging-reader'] as const;
export type ContextName = (typeof CONTEXTS)[number];

/** The no-portforward context's user: a ServiceAccount, as CI pipelines often are. */
export const NO_PORTFORWARD_USER = 'system:serviceaccount:default:no-portforward';

/** docs/rbac.md, "The minimal Role for the tunnel": all `kvpn up` needs. */
export const KVPN_MINIMAL_ROLE: readonly PolicyRule[] = [
  { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
  { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
  { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['create', 'delete'] },
];

/** docs/rbac.md, "Optional: reads that make kvpn faster and more precise". */
export const KVPN_OPTIONAL_READ_ROLE: readonly PolicyRule[] = [
  { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch', 'create'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
];

/**
 * Both Roles of docs/rbac.md with the pods/portforward rule left out: the
 * relay can be deployed, the tunnel to it cannot be opened.
 */
export const ROLE_WITHOUT_PORTFORWARD: PolicyRule[] = [
  ...KVPN_MINIMAL_ROLE.filter((r) => !r.resources.includes('pods/portforward')),
  ...KVPN_OPTIONAL_READ_ROLE,
];

export interface WorldCredentials {
  stagingToken: string;
  execToken: string;
  noPortForwardToken: string;
  readerToken: string;
  users: UserSpec[];
}

export function newCredentials(): WorldCredentials {
  const stagingToken = `staging.${randomBytes(16).toString('hex')}`;
  const execToken = `exec.${randomBytes(16).toString('hex')}`;
  const noPortForwardToken = `sa.${randomBytes(16).toString('hex')}`;
  const readerToken = `reader.${randomBytes(16).toString('hex')}`;
  return {
    stagingToken,
    execToken,
    noPortForwardToken,
    readerToken,
    users: [
      { name: 'staging', token: stagingToken, namespaces: ['default'], rules: [...KVPN_MINIMAL_ROLE] },
      { name: 'staging-exec', token: execToken, namespaces: ['default'], rules: [...KVPN_MINIMAL_ROLE] },
      {
        name: 'staging-reader',
        token: readerToken,
        namespaces: ['default'],
        rules: [...KVPN_MINIMAL_ROLE, ...KVPN_OPTIONAL_READ_ROLE],
      },
      {
        name: NO_PORTFORWARD_USER,
        groups: ['system:serviceaccounts', 'system:serviceaccounts:default'],
        token: noPortForwardToken,
        namespaces: ['default'],
        rules: ROLE_WITHOUT_PORTFORWARD,
      },
    ],
  };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Writes the exec plugin; it counts its calls and fails while `<dir>/exec-credential.fail` exists. */
async function writeExecPlugin(dir: string, token: string): Promise<string> {
  const path = join(dir, 'exec-credential.sh');
  const calls = join(dir, 'exec-credential.calls');
  const fail = join(dir, 'exec-credential.fail');
  await writeFile(
    path,
    `#!/bin/sh
# kvpn test world: an exec credential plugin (client.authentication.k8s.io/v1).
echo x >> '${calls}'
if [ -e '${fail}' ]; then echo "exec-credential: refusing (test fault)" >&2; exit 1; fi
exp=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}\\n' '${token}' "$exp"
`,
  );
  await chmod(path, 0o755);
  // The plugin runs as whoever uses the kubeconfig, not necessarily root.
  await writeFile(calls, '', { mode: 0o666 });
  await chmod(calls, 0o666);
  return path;
}

export async function writeKubeconfig(
  path: string,
  dir: string,
  server: string,
  pki: WorldPki,
  creds: WorldCredentials,
): Promise<void> {
  const plugin = await writeExecPlugin(dir, creds.execToken);
  const text = `apiVersion: v1
kind: Config
preferences: {}
clusters:
- name: kvpn-test
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(pki.ca.cert)}
users:
- name: admin
  user:
    client-certificate-data: ${b64(pki.admin.cert)}
    client-key-data: ${b64(pki.admin.key)}
- name: staging
  user:
    token: ${creds.stagingToken}
- name: staging-exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ${plugin}
      interactiveMode: Never
      provideClusterInfo: false
- name: no-portforward
  user:
    token: ${creds.noPortForwardToken}
- name: staging-reader
  user:
    token: ${creds.readerToken}
contexts:
- name: staging
  context:
    cluster: kvpn-test
    user: staging
    namespace: default
- name: admin
  context:
    cluster: kvpn-test
    user: admin
- name: staging-exec
  context:
    cluster: kvpn-test
    user: staging-exec
    namespace: default
- name: no-portforward
  context:
    cluster: kvpn-test
    user: no-portforward
    namespace: default
- name: staging-reader
  context:
    cluster: kvpn-test
    user: staging-reader
    namespace: default
current-context: staging
`;
  await writeFile(path, text, { mode: 0o644 });
}
