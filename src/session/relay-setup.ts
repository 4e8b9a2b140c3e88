// The relay pod and the tunnel to it. The relay (its pods, found by the
// session label, and its ConfigMap and Secret, named after the session) is
// journaled before it is deployed. The tunnel keeps it alive: when sessions
// cannot open, the dialer asks the RelayHandle to ensure a Ready relay,
// which recreates a deleted pod; each new generation is reported.
import { hostname, userInfo } from 'node:os';
import type { Logger } from '../host/log.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { deployRelay, type RelayHandle } from '../relay/deploy.js';
import { forbiddenError } from '../relay/pod-status.js';
import { TunnelDialer } from '../tunnel/dialer.js';
import type { StateJournal } from './state-journal.js';

/** How long `up` waits for the tunnel's first session after the pod is Ready. */
export const TUNNEL_READY_TIMEOUT_MS = 30_000;

export interface RelaySetupOptions {
  client: KubeClient;
  journal: StateJournal;
  image?: string | undefined;
  sessionId: string;
  /** user@host of the invoking user, for the relay's owner label. */
  owner?: string | undefined;
  log: Logger;
  signal?: AbortSignal | undefined;
  onRecreated?: (pod: string) => void;
  /** The tunnel's carrier (default: the dialer's). */
  carrier?: 'h2' | 'mux' | undefined;
}

export interface RelaySetup {
  readonly dialer: TunnelDialer;
  readonly handle: RelayHandle;
  readonly podName: string;
  readonly image: string;
  /** Pods created after the first one. */
  readonly recreated: number;
  /** Stops the tunnel (and with it any recreation of the relay). */
  close(): void;
  /** Deletes the relay's pods, ConfigMap and Secret. */
  remove(): Promise<boolean>;
}

export async function startRelay(options: RelaySetupOptions): Promise<RelaySetup> {
  const { client, log } = options;
  options.journal.record({ kind: 'relay', namespace: client.namespace, sessionId: options.sessionId });
  const handle = await deployRelay(client, {
    sessionId: options.sessionId,
    owner: options.owner ?? `${userInfo().username}@${hostname()}`,
    namespace: client.namespace,
    ...(options.image ? { image: options.image } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (detail) => log.info('relay pod starting', { detail }),
  });
  log.info('relay pod ready', { pod: handle.podName, image: handle.image });
  const dialer = new TunnelDialer({ client, relay: handle, ...(options.carrier ? { carrier: options.carrier } : {}) });
  let generation = handle.generations;
  // Retrying cannot fix a refusal (no pods/portforward right, rejected credentials): fail at once.
  let refuse: (err: Error) => void = () => {};
  const refused = new Promise<never>((_, reject) => {
    refuse = reject;
  });
  refused.catch(() => {});
  const unsubscribe = dialer.onStateChange((change) => {
    log.info('tunnel state', {
      state: change.state,
      sessions: `${change.carriersUp}/${change.carriersWanted}`,
      error: change.error,
    });
    if (handle.generations !== generation) {
      generation = handle.generations;
      options.onRecreated?.(handle.podName);
    }
    const err = change.error;
    if (err instanceof KubeApiError && err.status === 403) {
      refuse(forbiddenError(err, handle.namespace, 'port-forward to the relay pod'));
    } else if (err instanceof KubeApiError && err.status === 401) refuse(err);
  });
  try {
    await Promise.race([dialer.ready(TUNNEL_READY_TIMEOUT_MS, options.signal), refused]);
  } catch (err) {
    unsubscribe();
    dialer.close();
    throw err;
  }
  let removed: Promise<boolean> | undefined;
  return {
    dialer,
    handle,
    get podName() {
      return handle.podName;
    },
    image: handle.image,
    get recreated() {
      return Math.max(0, handle.generations - 1);
    },
    close() {
      unsubscribe();
      dialer.close();
    },
    remove() {
      removed ??= handle.delete().then(() => true);
      return removed;
    },
  };
}
