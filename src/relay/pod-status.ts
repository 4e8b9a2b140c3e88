// Why a relay pod is not serving, in words a user can act on. Pure: a pod
// object (or an API error) in, a verdict or a RelayError out.
import { KvpnError } from '../errors.js';
import { KubeApiError } from '../kube/errors.js';
import type { KubeJson } from './manifest.js';

export type RelayErrorCode =
  | 'KVPN_ERR_RELAY_FORBIDDEN'
  | 'KVPN_ERR_RELAY_IMAGE'
  | 'KVPN_ERR_RELAY_UNSCHEDULABLE'
  | 'KVPN_ERR_RELAY_CONFIG'
  | 'KVPN_ERR_RELAY_EXITED'
  | 'KVPN_ERR_RELAY_DELETED'
  | 'KVPN_ERR_RELAY_NOT_READY'
  | 'KVPN_ERR_RELAY_QUOTA';

export class RelayError extends KvpnError {
  constructor(code: RelayErrorCode, message: string, options: { cause?: unknown; remedy?: string } = {}) {
    super(
      code,
      code === 'KVPN_ERR_RELAY_FORBIDDEN' || code === 'KVPN_ERR_RELAY_QUOTA' ? 'user' : 'cluster',
      message,
      options,
    );
  }
}

export type RelayVerdict =
  | { kind: 'ready' }
  | { kind: 'waiting'; detail: string }
  | { kind: 'failed'; error: RelayError };

/** Where the pod is on its way to Ready, or why it will not get there. */
export function judgeRelayPod(pod: KubeJson | undefined, image: string): RelayVerdict {
  if (!pod) {
    return {
      kind: 'failed',
      error: new RelayError('KVPN_ERR_RELAY_DELETED', 'the relay pod was deleted while starting'),
    };
  }
  const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  if (pod.metadata?.deletionTimestamp) {
    return { kind: 'failed', error: new RelayError('KVPN_ERR_RELAY_DELETED', `relay pod ${name} is being deleted`) };
  }
  const status = pod.status ?? {};
  const scheduled = (status.conditions ?? []).find((c: KubeJson) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    return {
      kind: 'failed',
      error: new RelayError(
        'KVPN_ERR_RELAY_UNSCHEDULABLE',
        `relay pod ${name} cannot be scheduled: ${scheduled.message ?? 'no node fits'}`,
        {
          remedy:
            'No node has room for the relay (it asks for 50m CPU and 64Mi memory): free capacity, or check taints, quotas and node selectors in the namespace.',
        },
      ),
    };
  }
  const container = (status.containerStatuses ?? [])[0];
  const waiting = container?.state?.waiting;
  if (
    waiting &&
    ['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'ErrImageNeverPull'].includes(waiting.reason)
  ) {
    // ErrImagePull alone may be a registry hiccup the kubelet retries; back-off means it keeps failing.
    if (
      waiting.reason === 'ErrImagePull' &&
      !/not found|denied|does not exist|unauthorized/i.test(waiting.message ?? '')
    ) {
      return { kind: 'waiting', detail: `pulling ${image}: ${waiting.message ?? waiting.reason}` };
    }
    return {
      kind: 'failed',
      error: new RelayError(
        'KVPN_ERR_RELAY_IMAGE',
        `the cluster cannot pull the relay image "${image}" (${waiting.reason}): ${waiting.message ?? ''}`.trim(),
        {
          remedy:
            'Pass --relay-image with a node image (Node 18 or newer) that your cluster can pull, e.g. a mirror of node:22-alpine in your registry.',
        },
      ),
    };
  }
  if (waiting && ['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError'].includes(waiting.reason)) {
    return {
      kind: 'failed',
      error: new RelayError(
        'KVPN_ERR_RELAY_CONFIG',
        `relay pod ${name} cannot start its container (${waiting.reason}): ${waiting.message ?? ''}`.trim(),
        {
          remedy: 'The relay ConfigMap or Secret may have been deleted: run `kvpn down` and `kvpn up` again.',
        },
      ),
    };
  }
  const terminated = container?.state?.terminated;
  if (terminated || status.phase === 'Failed' || status.phase === 'Succeeded') {
    const how = terminated
      ? `exit code ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}${terminated.message ? `: ${String(terminated.message).trim().slice(-600)}` : ''}`
      : `phase ${status.phase}`;
    const oom = terminated?.reason === 'OOMKilled';
    return {
      kind: 'failed',
      error: new RelayError('KVPN_ERR_RELAY_EXITED', `relay pod ${name} exited: ${how}`, {
        remedy: oom
          ? 'The relay ran out of memory: raise its memory limit.'
          : `Check that "${image}" is a node image (Node 18 or newer) whose \`node\` runs as uid 1000.`,
      }),
    };
  }
  const ready = (status.conditions ?? []).find((c: KubeJson) => c.type === 'Ready');
  if (status.phase === 'Running' && ready?.status === 'True') return { kind: 'ready' };
  const detail =
    waiting?.reason ?? (status.phase === 'Running' ? 'running, not ready yet' : (status.phase ?? 'Pending'));
  return { kind: 'waiting', detail: scheduled ? detail : `${detail}, not scheduled yet` };
}

/** Reads an RBAC denial ("cannot create resource \"pods\"…") into what is missing and how to get it. */
export function forbiddenError(err: KubeApiError, namespace: string, doing: string): RelayError {
  if (/exceeded quota|forbidden: failed quota/i.test(err.apiMessage)) {
    return new RelayError('KVPN_ERR_RELAY_QUOTA', `cannot ${doing} in namespace "${namespace}": ${err.apiMessage}`, {
      cause: err,
      remedy: 'A ResourceQuota is full: free some of it, or use another namespace with --namespace.',
    });
  }
  const m = /cannot (\w+) resource "([^"]+)"(?: in API group "([^"]*)")?/.exec(err.apiMessage);
  const verb = m?.[1] ?? '?';
  const resource = m?.[2] ?? '?';
  return new RelayError(
    'KVPN_ERR_RELAY_FORBIDDEN',
    `not allowed to ${doing} in namespace "${namespace}": missing RBAC verb "${verb}" on "${resource}" (${err.apiMessage})`,
    {
      cause: err,
      remedy: `Ask a cluster admin to bind the kvpn Role from docs/rbac.md in "${namespace}" (it grants "${verb}" on "${resource}"), or pick a namespace where you have it with --namespace.`,
    },
  );
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}

export function isForbidden(err: unknown): err is KubeApiError {
  return err instanceof KubeApiError && err.status === 403;
}
