// kvpn's file server in the workload's own pod: an ephemeral container
// (pods/ephemeralcontainers: no restart, no change to the workload) that
// mounts the pod's volumes and serves them over SFTP on the pod's loopback.
// It knows only its token's sha256 (in its environment, which anyone who may
// read the pod sees); the program is the files bundle, passed as `node -e`
// because an ephemeral container cannot add volumes.
// An ephemeral container cannot be removed either: the server exits once no
// laptop has been connected for a while, and the pod keeps a terminated entry.
import { createHash, randomBytes } from 'node:crypto';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { type MountError, mountCall, mountError, mountForbidden } from './errors.js';

export const FILE_SERVER_ROOT = '/kvpn-volumes';
const START_TIMEOUT_MS = 120_000;
const POLL_MS = 250;

export interface FileServerOptions {
  namespace: string;
  pod: string;
  /** The ephemeral container's name, unique in the pod. */
  name: string;
  image: string;
  port: number;
  sessionId: string;
  /** Volumes the server mounts under FILE_SERVER_ROOT/<name>, read-only unless said. */
  volumes: { name: string; readOnly: boolean }[];
  user: { uid?: number; gid?: number; nonRoot: boolean };
  idleMs: number;
}

export interface FileServerHandle {
  name: string;
  pod: string;
  port: number;
  token: string;
}

/** The container: its environment has the token's sha256 only (anyone who may read the pod sees it). */
export function fileServerContainer(o: FileServerOptions, bundle: string, token: string): Record<string, unknown> {
  const nodeUser = 1000; // node:*-alpine's "node": the image's root would fail runAsNonRoot
  const runAsUser = o.user.uid ?? (o.user.nonRoot ? nodeUser : undefined);
  return {
    name: o.name,
    image: o.image,
    command: ['node', '-e', bundle],
    env: [
      { name: 'KVPN_FILES_TOKEN_SHA256', value: createHash('sha256').update(token).digest('hex') },
      { name: 'KVPN_FILES_PORT', value: String(o.port) },
      { name: 'KVPN_FILES_ROOT', value: FILE_SERVER_ROOT },
      { name: 'KVPN_FILES_IDLE_MS', value: String(o.idleMs) },
    ],
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
      ...(runAsUser === undefined ? {} : { runAsUser }),
      ...(o.user.gid === undefined ? {} : { runAsGroup: o.user.gid }),
      ...(o.user.nonRoot || (runAsUser !== undefined && runAsUser !== 0) ? { runAsNonRoot: true } : {}),
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
    volumeMounts: o.volumes.map((v) => ({
      name: v.name,
      mountPath: `${FILE_SERVER_ROOT}/${v.name}`,
      readOnly: v.readOnly,
    })),
  };
}

/** Adds the ephemeral container and waits until it runs. */
export async function startFileServer(
  client: KubeClient,
  o: FileServerOptions,
  bundle: string,
): Promise<FileServerHandle> {
  const token = randomBytes(24).toString('base64url');
  const podPath = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/pods/${encodeURIComponent(o.pod)}`;
  try {
    await client.request('PATCH', `${podPath}/ephemeralcontainers`, {
      contentType: 'application/strategic-merge-patch+json',
      body: { spec: { ephemeralContainers: [fileServerContainer(o, bundle, token)] } },
    });
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403)
      throw mountForbidden(
        err,
        o.namespace,
        `add kvpn's file server to pod ${o.pod}`,
        `Ask a namespace admin for "patch" on "pods/ephemeralcontainers" (the kvpn-mount Role in docs/rbac.md). ConfigMap, Secret and downward API volumes mount without it: pick them with --only.`,
      );
    throw err;
  }
  await awaitRunning(client, podPath, o.name);
  return { name: o.name, pod: o.pod, port: o.port, token };
}

interface ContainerState {
  running?: unknown;
  waiting?: { reason?: string; message?: string };
  terminated?: { reason?: string; message?: string; exitCode?: number };
}

const FATAL_WAITING = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

/** Resolves once the container runs; rejects with the kubelet's reason when it cannot. */
async function awaitRunning(client: KubeClient, podPath: string, name: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = 'not started yet';
  while (Date.now() < deadline) {
    const pod = await mountCall<{
      status?: { phase?: string; ephemeralContainerStatuses?: { name: string; state?: ContainerState }[] };
    }>(client, 'read the pod', 'GET', podPath);
    const state = pod.status?.ephemeralContainerStatuses?.find((s) => s.name === name)?.state;
    if (state?.running) return;
    if (state?.terminated)
      throw fileServerFailed(
        `exited (${state.terminated.reason ?? `code ${state.terminated.exitCode}`}): ${(state.terminated.message ?? '').trim().slice(-300)}`,
      );
    if (state?.waiting?.reason && FATAL_WAITING.has(state.waiting.reason))
      throw fileServerFailed(`${state.waiting.reason}: ${state.waiting.message ?? ''}`.trim());
    if (state?.waiting) last = state.waiting.reason ?? 'waiting';
    if (pod.status?.phase && pod.status.phase !== 'Running') throw fileServerFailed(`the pod is ${pod.status.phase}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw fileServerFailed(`not running after ${START_TIMEOUT_MS / 1000} s (${last})`);
}

const fileServerFailed = (why: string): MountError =>
  mountError(
    'KVPN_ERR_MOUNT_FILE_SERVER',
    `kvpn's file server in the pod did not start: ${why}`,
    "Check the image (--files-image) can be pulled on the pod's node; ConfigMap, Secret and downward API volumes mount without it (--only).",
  );
