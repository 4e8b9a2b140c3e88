// The Kubernetes client of a kvpn process. The kubeconfig files are read
// once per process (loadKubeconfig); every client after that is made from
// what was read. The session's client always carries the invoking user's
// credentials: under sudo, the context's user is replaced in memory by the
// credential overlay (the user's exec plugin runs as the user, see
// host/credentials.ts). probeApi is the one check that the API answers, so
// expired credentials and an unreachable server fail the first step.
import { lookup } from 'node:dns/promises';
import { enableCredentialOverlay, type InvokingUser } from '../host/credentials.js';
import { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';

export interface KubeTargetOptions {
  /** Kubeconfig path list (`:`-separated); default: $KUBECONFIG, else ~/.kube/config. */
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
}

/** A kubeconfig as read from its files: no credentials fetched, nothing asked of the network. */
export interface LoadedKubeconfig {
  /** The path list it was read from, as given (undefined: the default). */
  readonly kubeconfig: string | undefined;
  /** Context, cluster, user and namespace resolved; the invoking user's credentials not yet applied. */
  readonly client: KubeClient;
}

/** Reads the kubeconfig files: the one read of a process. */
export function loadKubeconfig(target: KubeTargetOptions): LoadedKubeconfig {
  return { kubeconfig: target.kubeconfig, client: KubeClient.load(target) };
}

/**
 * A client of the loaded kubeconfig with the invoking user's credentials,
 * reading no file: under sudo the context's user becomes kvpn's credential
 * helper, which loads the user's own files as the user; otherwise (a real
 * root login, or no sudo) the kubeconfig's user as it is.
 */
export function asInvokingUser(loaded: LoadedKubeconfig, user: InvokingUser | undefined): KubeClient {
  const plain = loaded.client;
  if (!user || !plain.userName) return plain;
  const userPaths = (loaded.kubeconfig ?? '').split(':').filter(Boolean);
  return plain.withExecUser(enableCredentialOverlay(user, userPaths, plain.contextName));
}

/** Fails unless the API answers this client (credentials, reachability). */
export async function probeApi(client: KubeClient): Promise<void> {
  try {
    await client.request('GET', `/api/v1/namespaces/${client.namespace}/pods`, { query: { limit: 1 } });
  } catch (err) {
    // A namespace-scoped user may not list pods; the relay step says precisely what is missing.
    if (!(err instanceof KubeApiError && err.status === 403)) throw err;
  }
}

/** The session's client: the invoking user's credentials, checked once against the API. */
export async function connectAsUser(loaded: LoadedKubeconfig, user: InvokingUser | undefined): Promise<KubeClient> {
  const client = asInvokingUser(loaded, user);
  try {
    await probeApi(client);
  } catch (err) {
    client.close();
    throw err;
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
