// Deploys and keeps the session's relay pod (docs/design.md §7).
//
//   deployRelay ─► ConfigMap (bundle) + Secret (token) + Pod ─► watch until Ready
//                  403 / image pull / unschedulable / exit ─► RelayError naming cause and fix
//   RelayHandle.ensure() (the tunnel calls it when sessions cannot open):
//                  pod Ready → nothing; starting → wait; gone/exited → new pod, wait
//   RelayHandle.delete() ─► pods of the session, ConfigMap, Secret
//   findLeftoverRelays ─► relays of earlier sessions (crashed clients) to remove
//
// Namespace-scoped permissions only (docs/rbac.md): pods create/get/list/
// watch/delete, pods/portforward create+get, configmaps and secrets create/delete.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KvpnError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { Informer, type KubeObject } from '../kube/informer.js';
import {
  ANNOTATION_OWNER,
  ANNOTATION_PROTOCOL,
  DEFAULT_RELAY_IMAGE,
  DEFAULT_RELAY_RESOURCES,
  type KubeJson,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  LABEL_OWNER,
  LABEL_SESSION,
  labelValue,
  MANAGER,
  RELAY_APP,
  RELAY_PORT,
  type RelayManifestOptions,
  type RelayResources,
  relayBaseName,
  relayConfigMap,
  relayPod,
  relaySecret,
  validSessionId,
} from './manifest.js';
import { forbiddenError, isForbidden, isNotFound, judgeRelayPod, RelayError } from './pod-status.js';
import { TUNNEL_PROTOCOL_VERSION } from './protocol.js';

export { DEFAULT_RELAY_IMAGE, RELAY_PORT } from './manifest.js';
export { RelayError } from './pod-status.js';

export const DEFAULT_READY_TIMEOUT_MS = 120_000;
export const DEFAULT_RELAY_IDLE_EXIT_MS = 10 * 60_000;

export interface DeployRelayOptions {
  /** Lowercase letters, digits and dashes, ≤ 40 characters; names the objects. */
  sessionId: string;
  /** Who runs the session (e.g. user@host); a label, for finding leftovers. */
  owner: string;
  /** Default: the client's namespace (the context's, or --namespace). */
  namespace?: string;
  /** Default node:22-alpine (--relay-image). */
  image?: string;
  /** The relay exits after this long with no client connected. */
  idleExitMs?: number;
  readyTimeoutMs?: number;
  /** The token of an earlier run of this session: reuse its relay if it is still there. */
  token?: string;
  resources?: Partial<RelayResources>;
  /** The relay program; default: the bundle built by `npm run build`. */
  bundle?: string;
  signal?: AbortSignal;
  /** Progress while waiting for the pod ("ContainerCreating", "pulling …"). */
  onProgress?: (detail: string) => void;
}

export interface LeftoverRelay {
  sessionId: string;
  namespace: string;
  owner: string;
  pods: { name: string; phase: string; created: string }[];
}

const SELECTOR = `${LABEL_MANAGED_BY}=${MANAGER},${LABEL_NAME}=${RELAY_APP}`;

export class RelayHandle {
  readonly namespace: string;
  readonly sessionId: string;
  readonly token: string;
  readonly port: number;
  readonly #client: KubeClient;
  readonly #manifest: RelayManifestOptions;
  readonly #bundle: string;
  readonly #readyTimeoutMs: number;
  readonly #onProgress: ((detail: string) => void) | undefined;
  #podName: string;
  #ensuring: Promise<void> | undefined;
  #deleted = false;
  /** Pods created for this session so far (recreations included). */
  generations = 0;

  constructor(
    client: KubeClient,
    manifest: RelayManifestOptions,
    bundle: string,
    token: string,
    podName: string,
    opts: { readyTimeoutMs: number; onProgress?: (d: string) => void },
  ) {
    this.#client = client;
    this.#manifest = manifest;
    this.#bundle = bundle;
    this.namespace = manifest.namespace;
    this.sessionId = manifest.sessionId;
    this.port = manifest.port;
    this.token = token;
    this.#podName = podName;
    this.#readyTimeoutMs = opts.readyTimeoutMs;
    this.#onProgress = opts.onProgress;
  }

  /** The current relay pod; changes when the relay had to be recreated. */
  get podName(): string {
    return this.#podName;
  }

  get image(): string {
    return this.#manifest.image;
  }

  /**
   * Makes sure a Ready relay exists. Ready: nothing to do. Starting: waits.
   * Gone, exited or being deleted: creates a new pod and waits. Image,
   * scheduling and permission problems are thrown (recreating would not help).
   */
  ensure(_cause?: Error, signal?: AbortSignal): Promise<void> {
    this.#ensuring ??= this.#ensure(signal).finally(() => {
      this.#ensuring = undefined;
    });
    return this.#ensuring;
  }

  async #ensure(signal?: AbortSignal): Promise<void> {
    if (this.#deleted) throw new RelayError('KVPN_ERR_RELAY_DELETED', 'the relay of this session was deleted');
    const pod = await this.#getPod(this.#podName);
    const verdict = judgeRelayPod(pod, this.image);
    if (verdict.kind === 'ready') return;
    if (verdict.kind === 'waiting') {
      await this.#waitReady(this.#podName, signal);
      return;
    }
    if (!['KVPN_ERR_RELAY_DELETED', 'KVPN_ERR_RELAY_EXITED'].includes(verdict.error.code)) throw verdict.error;
    if (pod) await this.#deletePod(this.#podName);
    await this.#createObjects(false, signal);
  }

  /** Creates the ConfigMap and Secret (if `replace`, over leftovers), a new pod, and waits for Ready. */
  async #createObjects(replace: boolean, signal?: AbortSignal): Promise<void> {
    await this.#createOrReplace('configmaps', relayConfigMap(this.#manifest, this.#bundle), replace);
    await this.#createOrReplace('secrets', relaySecret(this.#manifest, this.token), replace);
    const name = `${relayBaseName(this.sessionId)}-${randomBytes(3).toString('hex')}`;
    // Teardown may have run while we were creating the ConfigMap and Secret.
    if (this.#deleted) throw new RelayError('KVPN_ERR_RELAY_DELETED', 'the relay of this session was deleted');
    try {
      await this.#client.request('POST', `/api/v1/namespaces/${this.namespace}/pods`, {
        body: relayPod(this.#manifest, name),
      });
    } catch (err) {
      if (isForbidden(err)) throw forbiddenError(err, this.namespace, 'create the relay pod');
      throw err;
    }
    this.#podName = name;
    this.generations++;
    await this.#waitReady(name, signal);
  }

  async #createOrReplace(resource: 'configmaps' | 'secrets', body: KubeJson, replace: boolean): Promise<void> {
    const path = `/api/v1/namespaces/${this.namespace}/${resource}`;
    try {
      await this.#client.request('POST', path, { body });
    } catch (err) {
      if (isForbidden(err)) throw forbiddenError(err, this.namespace, `create the relay ${resource.slice(0, -1)}`);
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      if (!replace) return;
      // A leftover with this name (no get/update permission needed): delete, then create.
      await this.#deleteObject(`${path}/${body.metadata.name}`);
      await this.#client.request('POST', path, { body });
    }
  }

  async #getPod(name: string): Promise<KubeJson | undefined> {
    try {
      return await this.#client.request<KubeJson>('GET', `/api/v1/namespaces/${this.namespace}/pods/${name}`);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (isForbidden(err)) throw forbiddenError(err, this.namespace, 'read the relay pod');
      throw err;
    }
  }

  #waitReady(name: string, signal?: AbortSignal): Promise<void> {
    return waitForRelayPod(
      this.#client,
      this.namespace,
      name,
      this.image,
      this.#readyTimeoutMs,
      signal,
      this.#onProgress,
    );
  }

  async #deletePod(name: string): Promise<void> {
    await this.#deleteObject(`/api/v1/namespaces/${this.namespace}/pods/${name}`, { gracePeriodSeconds: 0 });
  }

  async #deleteObject(path: string, query?: Record<string, number>): Promise<void> {
    try {
      await this.#client.request('DELETE', path, query ? { query } : {});
    } catch (err) {
      if (isNotFound(err)) return;
      if (isForbidden(err)) throw forbiddenError(err, this.namespace, 'delete the relay');
      throw err;
    }
  }

  /** Deletes the session's pods, ConfigMap and Secret. Idempotent. */
  async delete(): Promise<void> {
    this.#deleted = true;
    await removeRelaySession(this.#client, this.namespace, this.sessionId, [this.#podName]);
  }

  /** For the first deploy (see deployRelay). */
  async start(reuse: boolean, signal?: AbortSignal): Promise<void> {
    if (reuse) {
      const existing = await findSessionPods(this.#client, this.namespace, this.sessionId);
      for (const pod of existing) {
        // Only a relay that speaks our protocol version (an upgraded client redeploys).
        const protocol = pod.metadata?.annotations?.[ANNOTATION_PROTOCOL];
        if (protocol === String(TUNNEL_PROTOCOL_VERSION) && judgeRelayPod(pod, this.image).kind === 'ready') {
          this.#podName = pod.metadata.name;
          return;
        }
      }
    }
    try {
      await this.#createObjects(true, signal);
    } catch (err) {
      // Leave nothing behind when the relay never came up.
      await this.delete().catch(() => {});
      throw err;
    }
  }
}

/** Deploys the session's relay and waits until its pod is Ready. */
export async function deployRelay(client: KubeClient, options: DeployRelayOptions): Promise<RelayHandle> {
  if (!validSessionId(options.sessionId)) {
    throw new KvpnError('KVPN_ERR_RELAY_SESSION_ID', 'internal', `invalid session id "${options.sessionId}"`);
  }
  const manifest: RelayManifestOptions = {
    namespace: options.namespace ?? client.namespace,
    sessionId: options.sessionId,
    owner: options.owner,
    image: options.image ?? DEFAULT_RELAY_IMAGE,
    idleExitMs: options.idleExitMs ?? DEFAULT_RELAY_IDLE_EXIT_MS,
    resources: { ...DEFAULT_RELAY_RESOURCES, ...options.resources },
    port: RELAY_PORT,
  };
  const token = options.token ?? randomBytes(32).toString('base64url');
  const handle = new RelayHandle(client, manifest, options.bundle ?? loadRelayBundle(), token, '', {
    readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  await handle.start(options.token !== undefined, options.signal);
  return handle;
}

/** Relays (by session) in `namespace` made by kvpn, optionally only `owner`'s, minus the sessions in `exclude`. */
export async function findLeftoverRelays(
  client: KubeClient,
  options: { namespace?: string; owner?: string; exclude?: string[] } = {},
): Promise<LeftoverRelay[]> {
  const namespace = options.namespace ?? client.namespace;
  const selector = options.owner ? `${SELECTOR},${LABEL_OWNER}=${labelValue(options.owner)}` : SELECTOR;
  let list: { items: KubeJson[] };
  try {
    list = await client.request('GET', `/api/v1/namespaces/${namespace}/pods`, { query: { labelSelector: selector } });
  } catch (err) {
    if (isForbidden(err)) throw forbiddenError(err, namespace, 'list pods');
    throw err;
  }
  const bySession = new Map<string, LeftoverRelay>();
  for (const pod of list.items ?? []) {
    const sessionId = pod.metadata?.labels?.[LABEL_SESSION];
    if (!sessionId || options.exclude?.includes(sessionId)) continue;
    let entry = bySession.get(sessionId);
    if (!entry) {
      entry = {
        sessionId,
        namespace,
        owner: pod.metadata?.annotations?.[ANNOTATION_OWNER] ?? pod.metadata?.labels?.[LABEL_OWNER] ?? '',
        pods: [],
      };
      bySession.set(sessionId, entry);
    }
    entry.pods.push({
      name: pod.metadata.name,
      phase: pod.status?.phase ?? 'Unknown',
      created: pod.metadata.creationTimestamp ?? '',
    });
  }
  return [...bySession.values()];
}

/** Removes a leftover relay: its pods, ConfigMap and Secret. */
export async function removeLeftoverRelay(client: KubeClient, leftover: LeftoverRelay): Promise<void> {
  await removeRelaySession(
    client,
    leftover.namespace,
    leftover.sessionId,
    leftover.pods.map((p) => p.name),
  );
}

async function removeRelaySession(
  client: KubeClient,
  namespace: string,
  sessionId: string,
  known: string[],
): Promise<void> {
  const del = async (path: string, query?: Record<string, number>): Promise<void> => {
    try {
      await client.request('DELETE', path, query ? { query } : {});
    } catch (err) {
      if (isNotFound(err)) return;
      if (isForbidden(err)) throw forbiddenError(err, namespace, 'delete the relay');
      throw err;
    }
  };
  const pods = new Set(known.filter(Boolean));
  for (const pod of await findSessionPods(client, namespace, sessionId).catch(() => [])) pods.add(pod.metadata.name);
  for (const pod of pods) await del(`/api/v1/namespaces/${namespace}/pods/${pod}`, { gracePeriodSeconds: 0 });
  const base = relayBaseName(sessionId);
  await del(`/api/v1/namespaces/${namespace}/configmaps/${base}`);
  await del(`/api/v1/namespaces/${namespace}/secrets/${base}`);
}

async function findSessionPods(client: KubeClient, namespace: string, sessionId: string): Promise<KubeJson[]> {
  const list = await client.request<{ items: KubeJson[] }>('GET', `/api/v1/namespaces/${namespace}/pods`, {
    query: { labelSelector: `${SELECTOR},${LABEL_SESSION}=${sessionId}` },
  });
  return (list.items ?? []).filter((p) => !p.metadata?.deletionTimestamp);
}

/** Watches pod `name` until it is Ready; rejects with a RelayError naming the cause. */
export function waitForRelayPod(
  client: KubeClient,
  namespace: string,
  name: string,
  image: string,
  timeoutMs: number,
  signal?: AbortSignal,
  onProgress?: (detail: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let last = 'not seen yet';
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      informer.close();
      if (err) reject(err);
      else resolve();
    };
    const judge = (pod: KubeJson | undefined): void => {
      const verdict = judgeRelayPod(pod, image);
      if (verdict.kind === 'ready') finish();
      else if (verdict.kind === 'failed') finish(verdict.error);
      else if (verdict.detail !== last) {
        last = verdict.detail;
        onProgress?.(last);
      }
    };
    const informer = new Informer<KubeObject>(
      client,
      `/api/v1/namespaces/${namespace}/pods`,
      {
        onEvent: (type, pod) => judge(type === 'DELETED' ? undefined : pod),
        onSynced: () => judge(informer.get(`${namespace}/${name}`)),
        onError: (err) => {
          if (isForbidden(err)) finish(forbiddenError(err, namespace, 'watch the relay pod'));
        },
      },
      { fieldSelector: `metadata.name=${name}` },
    );
    const timer = setTimeout(
      () =>
        finish(
          new RelayError(
            'KVPN_ERR_RELAY_NOT_READY',
            `relay pod ${namespace}/${name} not ready after ${Math.round(timeoutMs / 1000)} s (${last})`,
            {
              remedy: `See \`kubectl -n ${namespace} describe pod ${name}\` for events.`,
            },
          ),
        ),
      timeoutMs,
    );
    const onAbort = (): void => finish(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    informer.start();
  });
}

/** The relay bundle built by `npm run build` (dist/relay/relay.js), from source or from dist. */
export function loadRelayBundle(): string {
  const candidates = ['../../dist/relay/relay.js', '../../relay/relay.js'].map((p) =>
    fileURLToPath(new URL(p, import.meta.url)),
  );
  for (const path of candidates) if (existsSync(path)) return readFileSync(path, 'utf8');
  throw new KvpnError(
    'KVPN_ERR_RELAY_BUNDLE',
    'internal',
    `the relay bundle is missing (looked at ${candidates.join(', ')})`,
    {
      remedy: 'Run `npm run build`.',
    },
  );
}
