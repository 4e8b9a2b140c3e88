// The two Services every cluster has, found without the Kubernetes API:
// the relay pod's resolver (the cluster DNS, with the pod's search path)
// names the `kubernetes` Service — the first address of the Service range —
// and `kube-dns`, the cluster DNS. A user with only the tunnel Role
// (docs/rbac.md) may not read Services, so the session guesses the Service
// range around these two, forwards DNS to the second, and verifies the
// first connection against both. Asked once, only when needed.

/** Relative names: the pod's search path completes them whatever the cluster domain. */
export const KUBERNETES_SERVICE = { name: 'kubernetes.default', lookup: 'kubernetes.default.svc', port: 443 };
export const CLUSTER_DNS_SERVICE = { name: 'kube-dns.kube-system', lookup: 'kube-dns.kube-system.svc', port: 53 };

export interface WellKnownServices {
  kubernetes: string[];
  clusterDns: string[];
}

/** Resolves a name in the cluster (the tunnel's resolve: the relay pod's resolver). */
export type ClusterResolve = (name: string) => Promise<string[]>;

/** Memoized: the first call asks the relay, later calls share the answer. Never rejects. */
export function wellKnownServices(resolve: ClusterResolve): () => Promise<WellKnownServices> {
  let found: Promise<WellKnownServices> | undefined;
  const ask = (name: string) => resolve(name).catch(() => [] as string[]);
  return () => {
    found ??= Promise.all([ask(KUBERNETES_SERVICE.lookup), ask(CLUSTER_DNS_SERVICE.lookup)]).then(
      ([kubernetes, clusterDns]) => ({ kubernetes, clusterDns }),
    );
    return found;
  };
}
