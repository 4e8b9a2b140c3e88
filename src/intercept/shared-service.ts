// An intercepted Service is shared by every laptop that intercepts it: the
// first one in puts the router in front of it, the last one out (or any
// kvpn that finds only stale leases) puts the Service back and removes the
// router. Intercepts in flight re-run engage() when their router vanishes,
// so a restore racing a new intercept heals itself.
import type { KubeClient } from '../kube/client.js';
import { deleteLease, listLeases } from './leases.js';
import { ensureRouter, type RouterPlan, removeRouter } from './router-deploy.js';
import { readService, redirectService, restoreService } from './service-redirect.js';

const ENDPOINT_TIMEOUT_MS = 15_000;
const ENDPOINT_POLL_MS = 200;

/** Router up, Service pointed at it, and its EndpointSlice listing a ready router pod. */
export async function engage(client: KubeClient, plan: RouterPlan, signal?: AbortSignal): Promise<void> {
  await ensureRouter(client, plan, signal);
  await redirectService(client, plan.namespace, plan.service);
  await awaitRouterEndpoint(client, plan.namespace, plan.service);
}

/**
 * Restores the Service if no live intercept remains on it (stale leases are
 * deleted on the way). `fallback`: the selector this caller journaled, for a
 * Service whose annotation is gone. Returns what it did.
 */
export async function releaseIfUnused(
  client: KubeClient,
  namespace: string,
  service: string,
  fallback?: Record<string, string>,
): Promise<'in use' | 'restored' | 'absent'> {
  const leases = await listLeases(client, namespace, service);
  for (const lease of leases.filter((l) => l.stale)) await deleteLease(client, namespace, lease.leaseName);
  if (leases.some((l) => !l.stale)) return 'in use';
  const restored = await restoreService(client, namespace, service, fallback);
  await removeRouter(client, namespace, service);
  return restored;
}

/**
 * Removes the namespace's stale leases (their laptops are gone) and restores each Service left
 * with no live lease. Returns the Services restored.
 */
export async function restoreAbandoned(client: KubeClient, namespace: string): Promise<string[]> {
  const leases = await listLeases(client, namespace);
  const services = new Set(leases.filter((l) => l.stale).map((l) => l.service));
  const restored: string[] = [];
  for (const service of services) {
    if ((await releaseIfUnused(client, namespace, service)) === 'restored') restored.push(service);
  }
  return restored;
}

/** kube-proxy only sends to endpoints the EndpointSlice lists as ready. */
async function awaitRouterEndpoint(client: KubeClient, namespace: string, service: string): Promise<void> {
  const path = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`;
  const deadline = Date.now() + ENDPOINT_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const svc = await readService(client, namespace, service);
    if (!svc) return;
    let slices: { items?: { endpoints?: { conditions?: { ready?: boolean }; targetRef?: { name?: string } }[] }[] };
    try {
      slices = await client.request('GET', path, { query: { labelSelector: `kubernetes.io/service-name=${service}` } });
    } catch {
      return; // Without the right to list EndpointSlices, do not wait.
    }
    const endpoints = (slices.items ?? []).flatMap((s) => s.endpoints ?? []);
    if (
      endpoints.length &&
      endpoints.every((e) => e.targetRef?.name?.startsWith('kvpn-router-') && e.conditions?.ready !== false)
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, ENDPOINT_POLL_MS));
  }
}
