// The cluster side: the kubeconfig and context, the API server, the ranges
// `kvpn up` would route against this machine's routes, and (--deep only)
// one relay pod started and removed. Discovery is the session's own
// (src/session/cidr-discovery.ts): reads, and one dry-run create that
// stores nothing.
import { hostname, userInfo } from 'node:os';
import { KubeClient, type KubeTarget } from '../kube/client.js';
import { deployRelay, type RelayHandle } from '../relay/deploy.js';
import { discoverPodCidrs, discoverServiceCidrs } from '../session/cidr-discovery.js';
import { findConflicts, hostPrefix, planRoutes, RouteConflictError } from '../session/route-plan.js';
import type { RouteEntry } from '../tun/routes.js';
import { type CheckResult, failFrom, ok, oneLine, skip, warn } from './check.js';

export const VERSION_TIMEOUT_MS = 10_000;

export function checkKubeconfig(
  target: KubeTarget,
  load: (t: KubeTarget) => KubeClient = (t) => KubeClient.load(t),
): {
  result: CheckResult;
  client?: KubeClient;
} {
  const title = 'kubeconfig and context';
  try {
    const client = load(target);
    return {
      client,
      result: ok(
        'kubeconfig',
        title,
        `context ${client.contextName}, cluster ${client.clusterName}, namespace ${client.namespace}, server ${client.server.origin}`,
      ),
    };
  } catch (err) {
    return { result: failFrom('kubeconfig', title, err, 'config') };
  }
}

type ApiClient = Pick<KubeClient, 'request' | 'server'>;

export async function checkApi(client: ApiClient, now: () => number = Date.now): Promise<CheckResult> {
  const title = 'API server';
  const t0 = now();
  try {
    const v = await client.request<{ gitVersion?: string }>('GET', '/version', { timeoutMs: VERSION_TIMEOUT_MS });
    return ok(
      'api',
      title,
      `${client.server.origin} answers: Kubernetes ${v?.gitVersion ?? '(version not given)'} in ${now() - t0} ms`,
    );
  } catch (err) {
    return failFrom('api', title, err, 'cluster');
  }
}

export interface RoutesProbe {
  /** This machine's routes (src/tun/routes.ts listRoutes). */
  listRoutes(): Promise<RouteEntry[]>;
  /** The API server's addresses (never routed). */
  apiServerAddresses(host: string): Promise<string[]>;
}

/** The ranges `up` would route (service, pod) against the routes already here. */
export async function checkRoutes(client: KubeClient, probe: RoutesProbe): Promise<CheckResult> {
  const id = 'routes';
  const title = 'route conflicts';
  let service: Awaited<ReturnType<typeof discoverServiceCidrs>>;
  let pod: Awaited<ReturnType<typeof discoverPodCidrs>>;
  try {
    [service, pod] = await Promise.all([
      discoverServiceCidrs(client, client.namespace),
      discoverPodCidrs(client, client.namespace),
    ]);
  } catch (err) {
    return failFrom(id, title, err, 'cluster');
  }
  const plan = planRoutes({
    service: service.cidrs,
    pod: pod.cidrs,
    alsoProxy: [],
    neverProxy: [],
    apiServer: (await probe.apiServerAddresses(client.server.hostname)).map(hostPrefix),
  });
  let existing: RouteEntry[];
  try {
    existing = await probe.listRoutes();
  } catch (err) {
    return failFrom(id, title, err, 'system');
  }
  const ranges = `services ${service.cidrs.join(' ') || 'none yet'} (${service.source}), pods ${pod.cidrs.join(' ') || 'none yet'} (${pod.source})`;
  const conflicts = findConflicts(
    plan.routes.map((r) => r.cidr),
    existing,
    '',
  );
  if (conflicts.length) {
    const err = new RouteConflictError(conflicts);
    const all = conflicts.map((c) => `${c.ours} overlaps ${c.theirs.destination} dev ${c.theirs.device}`).join('; ');
    return { ...failFrom(id, title, err, 'system'), detail: all };
  }
  const later =
    service.source === 'none'
      ? '; the Service range is found through the relay at start (not checkable without one)'
      : '';
  return ok(id, title, oneLine(`${ranges}: no overlap with this machine's ${existing.length} routes${later}`));
}

// ── The relay pod (--deep) ──────────────────────────────────────────────────

export interface RelayProbe {
  deploy(
    client: KubeClient,
    sessionId: string,
    signal?: AbortSignal,
  ): Promise<Pick<RelayHandle, 'podName' | 'port' | 'namespace' | 'image' | 'sessionId' | 'delete'>>;
  /** Opens one port-forward to the pod and closes it. */
  portForward(client: KubeClient, namespace: string, pod: string, port: number): Promise<void>;
  now(): number;
  sessionId(): string;
}

export function skipRelay(image: string): CheckResult {
  return skip(
    'relay',
    'relay image pull',
    `whether the cluster can pull ${image} shows only when a pod starts; kvpn doctor --deep starts one relay pod and removes it`,
  );
}

/** Starts one relay pod, opens one port-forward to it, and removes it — also on failure. */
export async function checkRelay(client: KubeClient, probe: RelayProbe, signal?: AbortSignal): Promise<CheckResult> {
  const id = 'relay';
  const title = 'relay pod (--deep)';
  const t0 = probe.now();
  let handle: Awaited<ReturnType<RelayProbe['deploy']>> | undefined;
  let result: CheckResult;
  try {
    handle = await probe.deploy(client, probe.sessionId(), signal);
    const ready = probe.now() - t0;
    const t1 = probe.now();
    await probe.portForward(client, handle.namespace, handle.podName, handle.port);
    result = ok(
      id,
      title,
      `pod ${handle.podName} (${handle.image}) Ready in ${seconds(ready)}, port-forward opened in ${probe.now() - t1} ms; removed`,
    );
  } catch (err) {
    result = failFrom(id, title, err, 'cluster');
  }
  if (handle) {
    try {
      await handle.delete();
    } catch (err) {
      const left = failFrom(id, title, err, 'cluster').detail;
      return result.status === 'ok'
        ? warn(id, title, `${result.detail.replace(/; removed$/, '')}; removing it failed: ${left}`, removeFix(handle))
        : { ...result, detail: `${result.detail}; removing the relay failed too: ${left}` };
    }
  }
  return result;
}

function removeFix(handle: { namespace: string; podName: string; sessionId: string }): string {
  return `Delete it by hand: kubectl -n ${handle.namespace} delete pod/${handle.podName} configmap/kvpn-relay-${handle.sessionId} secret/kvpn-relay-${handle.sessionId}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function defaultRelayProbe(): RelayProbe {
  return {
    deploy: (client, sessionId, signal) =>
      deployRelay(client, {
        sessionId,
        owner: `${userInfo().username}@${hostname()}`,
        namespace: client.namespace,
        ...(signal ? { signal } : {}),
      }),
    async portForward(client, namespace, pod, port) {
      const { openPortForward } = await import('../kube/port-forward.js');
      const stream = await openPortForward(client, { namespace, pod, port });
      stream.destroy();
    },
    now: Date.now,
    sessionId: () => `doctor-${Math.random().toString(16).slice(2, 10)}`,
  };
}
