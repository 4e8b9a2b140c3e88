// One ConfigMap per intercept: the cluster's record of who intercepts what
// (what `kvpn intercepts` lists), the lock that makes a second identical
// intercept fail (its name is derived from Service, port and filter, so the
// API server's "already exists" is the arbiter), and a lease its daemon
// renews. A lease not renewed for LEASE_STALE_MS belongs to a laptop that is
// gone: any kvpn may delete it, and the last one out restores the Service.
import { createHash } from 'node:crypto';
import type { KubeClient } from '../kube/client.js';
import {
  ANNOTATION_OWNER,
  type KubeJson,
  LABEL_MANAGED_BY,
  LABEL_OWNER,
  LABEL_SESSION,
  labelValue,
  MANAGER,
} from '../relay/manifest.js';
import { isStatus, kubeCall } from './errors.js';

export const LABEL_INTERCEPT_OF = 'kvpn.dev/intercept-of';
export const ANNOTATION_RENEWED = 'kvpn.dev/renewed';
export const LEASE_RENEW_MS = 10_000;
/** Several missed renewals: the laptop is gone (clocks are assumed within a few seconds, NTP). */
export const LEASE_STALE_MS = 45_000;
const SPEC_KEY = 'intercept.json';

/** What a lease records (and `kvpn intercepts` shows). */
export interface InterceptRecord {
  /** The intercept's name in its session (`kvpn leave NAME`). */
  name: string;
  namespace: string;
  workload: string;
  service: string;
  servicePort: number;
  /** The router's port for it. */
  routerPort: number;
  /** canonicalFilter(): '' for a whole intercept. */
  filter: string;
  owner: string;
  sessionId: string;
  /** The id registered with the router. */
  id: string;
  since: string;
}

export interface Lease extends InterceptRecord {
  leaseName: string;
  renewed: string;
  stale: boolean;
}

export function leaseName(service: string, servicePort: number, filter: string): string {
  const hash = createHash('sha256').update(`${service}\n${servicePort}\n${filter}`).digest('hex').slice(0, 12);
  return `kvpn-intercept-${hash}`;
}

function configMapsPath(namespace: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
}

export function leasePath(namespace: string, name: string): string {
  return `${configMapsPath(namespace)}/${encodeURIComponent(name)}`;
}

function toLease(cm: KubeJson, now: number): Lease | undefined {
  try {
    const record = JSON.parse(cm.data?.[SPEC_KEY] ?? '') as InterceptRecord;
    const renewed = (cm.metadata.annotations?.[ANNOTATION_RENEWED] as string | undefined) ?? record.since;
    const age = now - Date.parse(renewed);
    return { ...record, leaseName: cm.metadata.name, renewed, stale: !(age < LEASE_STALE_MS) };
  } catch {
    return undefined;
  }
}

/** Takes the lease; undefined when it is taken already, with the holder's record. */
export async function createLease(client: KubeClient, r: InterceptRecord): Promise<{ held?: Lease }> {
  const name = leaseName(r.service, r.servicePort, r.filter);
  const body = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: r.namespace,
      labels: {
        [LABEL_MANAGED_BY]: MANAGER,
        [LABEL_INTERCEPT_OF]: labelValue(r.service),
        [LABEL_SESSION]: r.sessionId,
        [LABEL_OWNER]: labelValue(r.owner),
      },
      annotations: { [ANNOTATION_OWNER]: r.owner, [ANNOTATION_RENEWED]: new Date().toISOString() },
    },
    data: { [SPEC_KEY]: JSON.stringify(r) },
  };
  try {
    await kubeCall(client, 'record the intercept (a ConfigMap)', 'POST', configMapsPath(r.namespace), { body });
    return {};
  } catch (err) {
    if (!isStatus(err, 409)) throw err;
  }
  const cm = await kubeCall<KubeJson>(client, 'read an intercept record', 'GET', leasePath(r.namespace, name)).catch(
    (err) => {
      if (isStatus(err, 404)) return undefined;
      throw err;
    },
  );
  const held = cm ? toLease(cm, Date.now()) : undefined;
  if (held && !held.stale) return { held };
  // A stale holder (its laptop is gone) or one that just left: take it over once.
  await deleteLease(client, r.namespace, name);
  return createLease(client, r);
}

export async function renewLease(client: KubeClient, namespace: string, name: string): Promise<void> {
  await client.request('PATCH', leasePath(namespace, name), {
    body: { metadata: { annotations: { [ANNOTATION_RENEWED]: new Date().toISOString() } } },
    contentType: 'application/merge-patch+json',
  });
}

/** Deletes a lease; with `sessionId`, only if that session holds it. true if deleted. */
export async function deleteLease(
  client: KubeClient,
  namespace: string,
  name: string,
  sessionId?: string,
): Promise<boolean> {
  try {
    let uid: string | undefined;
    if (sessionId) {
      const cm = await client.request<KubeJson>('GET', leasePath(namespace, name));
      if (cm.metadata.labels?.[LABEL_SESSION] !== sessionId) return false;
      uid = cm.metadata.uid;
    }
    await client.request('DELETE', leasePath(namespace, name), {
      ...(uid ? { body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } } } : {}),
    });
    return true;
  } catch (err) {
    if (isStatus(err, 404, 409)) return false;
    throw err;
  }
}

/** Every intercept of the namespace (of one Service when given), stale ones marked. */
export async function listLeases(client: KubeClient, namespace: string, service?: string): Promise<Lease[]> {
  const selector = `${LABEL_MANAGED_BY}=${MANAGER}${service ? `,${LABEL_INTERCEPT_OF}=${labelValue(service)}` : `,${LABEL_INTERCEPT_OF}`}`;
  const list = await kubeCall<{ items?: KubeJson[] }>(
    client,
    'list intercepts (ConfigMaps)',
    'GET',
    configMapsPath(namespace),
    {
      query: { labelSelector: selector },
    },
  );
  const now = Date.now();
  return (list.items ?? []).flatMap((cm) => toLease(cm, now) ?? []).filter((l) => !service || l.service === service);
}
