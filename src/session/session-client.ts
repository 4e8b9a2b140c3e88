// The session's Kubernetes client, always with the invoking user's
// credentials: under sudo, through the credential overlay (the user's exec
// plugin runs as the user, see credentials.ts). Checked once against the API
// so expired credentials and an unreachable server fail the first step.
import { lookup } from 'node:dns/promises';
import { enableCredentialOverlay, type InvokingUser } from '../host/credentials.js';
import { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';

export interface KubeTargetOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
}

/** Reads the kubeconfig files only (no credentials, no network): who the session will be. */
export function readKubeconfig(target: KubeTargetOptions): KubeClient {
  const plain = KubeClient.load(target);
  plain.close();
  return plain;
}

export async function connectAsUser(
  plain: KubeClient,
  target: KubeTargetOptions,
  user: InvokingUser | undefined,
  sessionDir: string,
): Promise<KubeClient> {
  let kubeconfig = target.kubeconfig;
  if (user && plain.userName) {
    const userPaths = (target.kubeconfig ?? '').split(':').filter(Boolean);
    kubeconfig = enableCredentialOverlay(sessionDir, user, userPaths, plain.contextName, plain.userName);
  }
  const client = KubeClient.load({ kubeconfig, context: plain.contextName, namespace: plain.namespace });
  try {
    await client.request('GET', `/api/v1/namespaces/${client.namespace}/pods`, { query: { limit: 1 } });
  } catch (err) {
    // A namespace-scoped user may not list pods; the relay step says precisely what is missing.
    if (!(err instanceof KubeApiError && err.status === 403)) {
      client.close();
      throw err;
    }
  }
  return client;
}

/** Every address the API server's host name resolves to (an IP literal is itself). */
export async function apiServerAddresses(hostname: string): Promise<string[]> {
  const host = hostname.replace(/^\[|\]$/g, '');
  try {
    return [...new Set((await lookup(host, { all: true })).map((a) => a.address))];
  } catch {
    return [];
  }
}
