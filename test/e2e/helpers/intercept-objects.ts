// What kvpn's intercepts make in the world's default namespace, and the wait
// until it is all gone (the router's pods terminate after `leave` returns).
import type { Cluster } from '../../cluster/index.js';

/** Names of every object kvpn's intercepts make (routers, decoys, leases, router pods). */
export async function interceptObjects(cluster: Cluster): Promise<string[]> {
  const r = await cluster.kubectl(
    ['get', 'deployments,replicasets,pods,services,configmaps,secrets', '-n', 'default', '-o', 'name'],
    { context: 'admin' },
  );
  return r.stdout.split('\n').filter((n) => /kvpn-(router|decoy|intercept)-/.test(n));
}

/** Waits (≤ 60 s, objects go asynchronously) until no intercept object is left; returns what is. */
export async function noInterceptObjects(cluster: Cluster): Promise<string[]> {
  let left: string[] = [];
  for (let i = 0; i < 120; i++) {
    left = await interceptObjects(cluster);
    if (!left.length) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return left;
}
