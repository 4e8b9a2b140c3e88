// The router of an intercepted Service: created by the first intercept of
// that Service (whoever makes it), found by every later one, removed with the
// Service's restore by the last one out. Shared by all laptops: creating
// tolerates "already exists", and laptops read the token from its Secret.
//
//   ensureRouter ─► decoy Service (original selector) ─► its ClusterIP
//                ─► Secret (token) + ConfigMap (bundle) + Deployment (routes to the decoy)
//                ─► a Ready router pod
//   removeRouter ─► Deployment, ConfigMap, Secret, decoy Service
import { randomBytes } from 'node:crypto';
import type { KubeClient } from '../kube/client.js';
import type { KubeJson } from '../relay/manifest.js';
import { InterceptError, isStatus, kubeCall } from './errors.js';
import {
  decoyName,
  decoyService,
  type RouterListen,
  routerConfigMap,
  routerDeployment,
  routerName,
  routerSecret,
  routerSelector,
  type ServicePort,
} from './router-manifest.js';

export const ROUTER_READY_TIMEOUT_MS = 120_000;
const POLL_MS = 250;

const core = (ns: string, resource: string): string => `/api/v1/namespaces/${encodeURIComponent(ns)}/${resource}`;
const deployments = (ns: string): string => `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments`;

export interface RouterPlan {
  namespace: string;
  service: string;
  ports: ServicePort[];
  /** The workload's selector (the decoy selects with it). */
  selector: Record<string, string>;
  listens: RouterListen[];
  image: string;
  bundle: string;
}

async function createIfAbsent(client: KubeClient, doing: string, path: string, body: KubeJson): Promise<void> {
  try {
    await kubeCall(client, doing, 'POST', path, { body });
  } catch (err) {
    if (!isStatus(err, 409)) throw err;
  }
}

/** Makes sure the decoy and the router exist; returns once a router pod is Ready. */
export async function ensureRouter(client: KubeClient, plan: RouterPlan, signal?: AbortSignal): Promise<void> {
  const { namespace: ns, service } = plan;
  await createIfAbsent(
    client,
    'create the decoy Service',
    core(ns, 'services'),
    decoyService(ns, service, plan.ports, plan.selector),
  );
  const decoy = await kubeCall<KubeJson>(
    client,
    'read the decoy Service',
    'GET',
    `${core(ns, 'services')}/${decoyName(service)}`,
  );
  const decoyIp = decoy.spec?.clusterIP as string | undefined;
  if (!decoyIp || decoyIp === 'None')
    throw new InterceptError(
      'KVPN_ERR_INTERCEPT_ROUTER',
      'cluster',
      `the decoy Service ${decoyName(service)} has no ClusterIP`,
    );
  await createIfAbsent(
    client,
    'create the router Secret',
    core(ns, 'secrets'),
    routerSecret(ns, service, randomBytes(24).toString('hex')),
  );
  await createIfAbsent(
    client,
    'create the router ConfigMap',
    core(ns, 'configmaps'),
    routerConfigMap(ns, service, plan.bundle),
  );
  await createIfAbsent(
    client,
    'create the router Deployment',
    deployments(ns),
    routerDeployment({ namespace: ns, service, listens: plan.listens, decoyIp, image: plan.image }),
  );
  await readyRouterPod(client, ns, service, ROUTER_READY_TIMEOUT_MS, signal);
}

/** The token laptops present to the router. */
export async function routerToken(client: KubeClient, namespace: string, service: string): Promise<string> {
  const secret = await kubeCall<KubeJson>(
    client,
    'read the router Secret',
    'GET',
    `${core(namespace, 'secrets')}/${routerName(service)}`,
  );
  return Buffer.from(secret.data?.token ?? '', 'base64').toString('utf8');
}

function podReady(pod: KubeJson): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    pod.status?.phase === 'Running' &&
    (pod.status?.conditions ?? []).some((c: KubeJson) => c.type === 'Ready' && c.status === 'True')
  );
}

/** Why the router is not coming up, from its pods' states (image pull, scheduling, crash). */
function routerTrouble(pods: KubeJson[]): string | undefined {
  for (const pod of pods) {
    for (const s of pod.status?.containerStatuses ?? []) {
      const waiting = s.state?.waiting;
      if (waiting && /ImagePull|ErrImage|CrashLoop|CreateContainer/.test(waiting.reason ?? ''))
        return `${waiting.reason}: ${waiting.message ?? ''}`.trim();
      const term = s.lastState?.terminated ?? s.state?.terminated;
      if (term && term.exitCode !== 0) return `exited ${term.exitCode}: ${(term.message ?? '').trim().slice(-300)}`;
    }
  }
  return undefined;
}

/** The name of a Ready router pod, waiting up to `timeoutMs` for one (the Deployment replaces a lost one). */
export async function readyRouterPod(
  client: KubeClient,
  namespace: string,
  service: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  const selector = Object.entries(routerSelector(service))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const deadline = Date.now() + timeoutMs;
  let trouble: string | undefined;
  for (;;) {
    const list = await kubeCall<{ items?: KubeJson[] }>(
      client,
      'list the router pods',
      'GET',
      core(namespace, 'pods'),
      {
        query: { labelSelector: selector },
      },
    );
    const pods = list.items ?? [];
    const ready = pods.find(podReady);
    if (ready) return ready.metadata.name as string;
    trouble = routerTrouble(pods) ?? trouble;
    if (Date.now() > deadline || signal?.aborted)
      throw new InterceptError(
        'KVPN_ERR_INTERCEPT_ROUTER',
        'cluster',
        `no router pod of Service ${service} became Ready in ${Math.round(timeoutMs / 1000)} s${trouble ? ` (${trouble})` : ''}`,
        {
          remedy: `See \`kubectl -n ${namespace} describe deployment ${routerName(service)}\`; --router-image picks another image.`,
        },
      );
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Deletes the router and the decoy (whatever of them exists). */
export async function removeRouter(client: KubeClient, namespace: string, service: string): Promise<void> {
  const name = routerName(service);
  const paths = [
    `${deployments(namespace)}/${name}`,
    `${core(namespace, 'configmaps')}/${name}`,
    `${core(namespace, 'secrets')}/${name}`,
    `${core(namespace, 'services')}/${decoyName(service)}`,
  ];
  for (const path of paths) {
    try {
      // The garbage collector removes the ReplicaSet and its pods right after.
      await kubeCall(client, 'remove the router', 'DELETE', path, {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' },
      });
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
  }
}
