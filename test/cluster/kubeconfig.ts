// The kubeconfig a world hands out: one cluster, contexts `staging`
// (bearer token, confined to namespace default), `admin` (client
// certificate, system:masters) and `staging-exec` (token from an exec
// credential plugin, same permissions as staging), plus the plugin script.
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { UserSpec } from './apiserver/auth.js';
import type { WorldPki } from './pki.js';

export const CONTEXTS = ['staging', 'admin', 'staging-exec'] as const;
export type ContextName = (typeof CONTEXTS)[number];

export interface WorldCredentials {
  stagingToken: string;
  execToken: string;
  users: UserSpec[];
}

export function newCredentials(): WorldCredentials {
  const stagingToken = `staging.${randomBytes(16).toString('hex')}`;
  const execToken = `exec.${randomBytes(16).toString('hex')}`;
  return {
    stagingToken,
    execToken,
    users: [
      { name: 'staging', token: stagingToken, namespaces: ['default'] },
      { name: 'staging-exec', token: execToken, namespaces: ['default'] },
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
current-context: staging
`;
  await writeFile(path, text, { mode: 0o644 });
}
