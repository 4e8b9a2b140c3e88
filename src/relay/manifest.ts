// The objects one relay session consists of (docs/design.md §7): a
// ConfigMap with the bundled relay, a Secret with the session token, and a
// hardened Pod that runs `node` on the bundle. Pure: options in, JSON out.

import { ENV } from './environment.js';
import { TUNNEL_PROTOCOL_VERSION } from './protocol.js';

export const DEFAULT_RELAY_IMAGE = 'node:22-alpine';
export const RELAY_PORT = 17071;
/** The uid/gid of the `node` user in the official node images. */
export const RELAY_UID = 1000;
export const RELAY_BUNDLE_KEY = 'relay.cjs';
export const RELAY_MOUNT_PATH = '/opt/kvpn';

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_SESSION = 'kvpn.dev/session';
export const LABEL_OWNER = 'kvpn.dev/owner';
export const ANNOTATION_OWNER = 'kvpn.dev/owner';
export const ANNOTATION_PROTOCOL = 'kvpn.dev/protocol';
export const RELAY_APP = 'kvpn-relay';
export const MANAGER = 'kvpn';

export interface RelayResources {
  cpuRequest: string;
  memoryRequest: string;
  cpuLimit: string;
  memoryLimit: string;
}

export const DEFAULT_RELAY_RESOURCES: RelayResources = {
  cpuRequest: '50m',
  memoryRequest: '64Mi',
  cpuLimit: '1',
  memoryLimit: '1Gi',
};

export interface RelayManifestOptions {
  namespace: string;
  sessionId: string;
  owner: string;
  image: string;
  idleExitMs: number;
  resources: RelayResources;
  port: number;
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are JSON
export type KubeJson = any;

/** Session ids become parts of object names: lowercase letters, digits, dashes. */
export function validSessionId(id: string): boolean {
  return /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/.test(id);
}

/** A label value (≤ 63 chars, alphanumeric at both ends, `-_.` inside). */
export function labelValue(raw: string): string {
  const cleaned = raw.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 63);
  return cleaned.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '') || 'unknown';
}

/** ConfigMap and Secret share this name; pods add a generation suffix. */
export function relayBaseName(sessionId: string): string {
  return `kvpn-relay-${sessionId}`;
}

export function relayLabels(sessionId: string, owner: string): Record<string, string> {
  return {
    [LABEL_NAME]: RELAY_APP,
    [LABEL_MANAGED_BY]: MANAGER,
    [LABEL_SESSION]: sessionId,
    [LABEL_OWNER]: labelValue(owner),
  };
}

export function relayConfigMap(o: RelayManifestOptions, bundle: string): KubeJson {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: relayBaseName(o.sessionId),
      namespace: o.namespace,
      labels: relayLabels(o.sessionId, o.owner),
      annotations: { [ANNOTATION_OWNER]: o.owner },
    },
    data: { [RELAY_BUNDLE_KEY]: bundle },
  };
}

export function relaySecret(o: RelayManifestOptions, token: string): KubeJson {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: relayBaseName(o.sessionId),
      namespace: o.namespace,
      labels: relayLabels(o.sessionId, o.owner),
      annotations: { [ANNOTATION_OWNER]: o.owner },
    },
    data: { token: Buffer.from(token).toString('base64') },
  };
}

export function relayPod(o: RelayManifestOptions, podName: string): KubeJson {
  const base = relayBaseName(o.sessionId);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName,
      namespace: o.namespace,
      labels: relayLabels(o.sessionId, o.owner),
      annotations: { [ANNOTATION_OWNER]: o.owner, [ANNOTATION_PROTOCOL]: String(TUNNEL_PROTOCOL_VERSION) },
    },
    spec: {
      // The relay exits when idle; the client recreates it when it needs one.
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 2,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: RELAY_UID,
        runAsGroup: RELAY_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'relay',
          image: o.image,
          command: ['node', `${RELAY_MOUNT_PATH}/${RELAY_BUNDLE_KEY}`],
          env: [
            { name: ENV.port, value: String(o.port) },
            { name: ENV.idleExitMs, value: String(o.idleExitMs) },
            { name: ENV.token, valueFrom: { secretKeyRef: { name: base, key: 'token' } } },
          ],
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
          },
          resources: {
            requests: { cpu: o.resources.cpuRequest, memory: o.resources.memoryRequest },
            limits: { cpu: o.resources.cpuLimit, memory: o.resources.memoryLimit },
          },
          // The last log lines land in the pod status: no pods/log permission needed to say why it died.
          terminationMessagePolicy: 'FallbackToLogsOnError',
          volumeMounts: [{ name: 'relay', mountPath: RELAY_MOUNT_PATH, readOnly: true }],
        },
      ],
      volumes: [{ name: 'relay', configMap: { name: base, defaultMode: 0o444 } }],
    },
  };
}
