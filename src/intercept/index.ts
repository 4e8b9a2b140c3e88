// `kvpn intercept` in the cluster: which Service and port a workload's
// intercept means, the router in front of it, the Service's redirect and its
// restore, and the leases that say who intercepts what. The session and the
// CLI enter here only.
import { KubeClient, type KubeTarget } from '../kube/client.js';
import { type Lease, listLeases } from './leases.js';
import { restoreAbandoned } from './shared-service.js';

export { InterceptError } from './errors.js';
export { findInterceptTarget, type InterceptTarget, type TargetQuery } from './intercept-target.js';
export {
  createLease,
  deleteLease,
  type InterceptRecord,
  LEASE_RENEW_MS,
  LEASE_STALE_MS,
  type Lease,
  leaseName,
  listLeases,
  renewLease,
} from './leases.js';
export { readyRouterPod, routerToken } from './router-deploy.js';
export { RouterEndpoint } from './router-endpoint.js';
export { DEFAULT_ROUTER_IMAGE, ROUTER_PORT } from './router-manifest.js';
export { engage, releaseIfUnused, restoreAbandoned } from './shared-service.js';

/**
 * `kvpn intercepts`: every intercept of the target's namespace, as its lease records it. Services
 * whose every lease is stale (their laptops are gone) are restored first, and named in `restored`.
 */
export async function listInterceptsOf(
  target: KubeTarget,
): Promise<{ namespace: string; leases: Lease[]; restored: string[] }> {
  const client = KubeClient.load(target);
  try {
    const restored = await restoreAbandoned(client, client.namespace);
    return { namespace: client.namespace, leases: await listLeases(client, client.namespace), restored };
  } finally {
    client.close();
  }
}
