// The Service `kvpn expose` creates: NAME:PORT in the session's namespace,
// selecting the session's relay pod (whatever its generation) on the relay's
// inbound listener port. Labelled with the session, so that removing it —
// by `leave`, `down`, or after a crash from the journal — deletes only a
// Service this session made (checked by label, then deleted by uid).
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import {
  ANNOTATION_OWNER,
  type KubeJson,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  LABEL_OWNER,
  LABEL_SESSION,
  labelValue,
  MANAGER,
  RELAY_APP,
} from '../relay/manifest.js';

export const LABEL_EXPOSE = 'kvpn.dev/expose';

export interface ExposedServiceSpec {
  namespace: string;
  name: string;
  sessionId: string;
  owner: string;
  /** The port cluster clients connect to. */
  port: number;
  /** The relay's inbound listener port. */
  targetPort: number;
  localPort: number;
  protocol: 'tcp' | 'udp';
}

export function exposedService(spec: ExposedServiceSpec): KubeJson {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      labels: {
        [LABEL_MANAGED_BY]: MANAGER,
        [LABEL_SESSION]: spec.sessionId,
        [LABEL_OWNER]: labelValue(spec.owner),
        [LABEL_EXPOSE]: 'true',
      },
      annotations: {
        [ANNOTATION_OWNER]: spec.owner,
        'kvpn.dev/local-port': String(spec.localPort),
      },
    },
    spec: {
      type: 'ClusterIP',
      selector: { [LABEL_NAME]: RELAY_APP, [LABEL_SESSION]: spec.sessionId },
      ports: [
        { name: spec.protocol, protocol: spec.protocol.toUpperCase(), port: spec.port, targetPort: spec.targetPort },
      ],
    },
  };
}

export function servicePath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;
}

/**
 * Deletes the Service if this session made it; true if it was deleted,
 * false if it is gone or is not this session's (never someone else's).
 */
export async function removeExposedService(
  client: KubeClient,
  namespace: string,
  name: string,
  sessionId: string,
): Promise<boolean> {
  const path = servicePath(namespace, name);
  let svc: KubeJson;
  try {
    svc = await client.request<KubeJson>('GET', path);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return false;
    throw err;
  }
  if (svc.metadata?.labels?.[LABEL_SESSION] !== sessionId) return false;
  try {
    await client.request('DELETE', path, {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: svc.metadata?.uid } },
    });
    return true;
  } catch (err) {
    // Gone meanwhile (404), or replaced by another with the same name (409: the uid differs).
    if (err instanceof KubeApiError && (err.status === 404 || err.status === 409)) return false;
    throw err;
  }
}
