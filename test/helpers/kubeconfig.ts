// Kubeconfig files for tests that talk to a local API server of their own:
// one cluster, one user (a token or an exec credential plugin), contexts.
import { writeFileSync } from 'node:fs';

export interface TestKubeconfig {
  server: string;
  /** Needed for http:// servers: client-node refuses plain HTTP otherwise. */
  insecure?: boolean;
  user: { name?: string; token: string } | { name?: string; execCommand: string };
  contexts: { name: string; namespace?: string }[];
  current?: string;
}

export function kubeconfigYaml(c: TestKubeconfig): string {
  const user = c.user.name ?? 'u';
  const credential =
    'token' in c.user
      ? `  user: {token: ${c.user.token}}`
      : [
          '  user:',
          '    exec:',
          '      apiVersion: client.authentication.k8s.io/v1',
          `      command: ${c.user.execCommand}`,
          '      interactiveMode: Never',
        ].join('\n');
  const contexts = c.contexts.map(({ name, namespace }) =>
    namespace
      ? `- name: ${name}\n  context: {cluster: c, user: ${user}, namespace: ${namespace}}`
      : `- name: ${name}\n  context: {cluster: c, user: ${user}}`,
  );
  return [
    'apiVersion: v1',
    'kind: Config',
    `current-context: ${c.current ?? ''}`,
    'clusters:',
    '- name: c',
    `  cluster: {server: "${c.server}"${c.insecure ? ', insecure-skip-tls-verify: true' : ''}}`,
    'users:',
    `- name: ${user}`,
    credential,
    'contexts:',
    ...contexts,
    '',
  ].join('\n');
}

export function writeKubeconfig(path: string, c: TestKubeconfig, mode = 0o644): string {
  writeFileSync(path, kubeconfigYaml(c), { mode });
  return path;
}
