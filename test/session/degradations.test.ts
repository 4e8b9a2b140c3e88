// What a session reports as degraded: only refusals a namespace Role could
// lift (docs/rbac.md's optional reads), each with the rule that lifts it.
import t from 'tap';
import { degradations } from '../../src/session/degradations.js';
import type { Ranges } from '../../src/session/discovery.js';

/** Ranges as discovery leaves them for a user with only the tunnel Role. */
const TUNNEL_ONLY: Ranges = {
  service: {
    cidrs: ['10.96.0.0/16'],
    source: 'well-known-services',
    notes: ['ServiceCIDR API: 403 Forbidden', 'invalid-ClusterIP probe: 403 Forbidden', 'services in default: 403'],
    forbidden: ['create services', 'list services'],
  },
  pod: { cidrs: ['10.244.0.0/16'], source: 'pod-ips', notes: ['nodes: 403 Forbidden'], forbidden: [] },
};

t.test('tunnel Role only: the guessed Service range and the unwatched Services, nothing about nodes', async (t) => {
  const found = degradations({
    ranges: TUNNEL_ONLY,
    forbiddenWatches: { services: ['*', 'default'], endpointslices: ['*', 'default'], pods: ['*'] },
    namespace: 'default',
    clusterDomain: 'cluster.local',
  });
  t.same(found, [
    {
      what: 'Service range guessed as 10.96.0.0/16 around the kubernetes and cluster DNS Services: a Service outside it is routed once its name is resolved, not by its IP alone',
      restore: { verbs: ['create'], resources: ['services'], namespace: 'default' },
    },
    {
      what: 'DNS: Service names in cluster.local are answered by the cluster DNS through the tunnel (a round trip each), not from a watch',
      restore: {
        verbs: ['list', 'watch'],
        resources: ['services', 'endpointslices.discovery.k8s.io'],
        namespace: 'default',
      },
    },
  ]);
});

t.test('with the optional reads: nothing degraded, though cluster-wide reads were refused', async (t) => {
  const ranges: Ranges = {
    service: { cidrs: ['10.96.0.0/12'], source: 'invalid-clusterip', notes: ['ServiceCIDR API: 403'], forbidden: [] },
    pod: { cidrs: ['10.244.0.0/16'], source: 'pod-ips', notes: ['nodes: 403'], forbidden: [] },
  };
  const forbiddenWatches = { services: ['*'], endpointslices: ['*'], pods: ['*'] };
  t.same(degradations({ ranges, forbiddenWatches, namespace: 'default', clusterDomain: 'cluster.local' }), []);
});

t.test('only the refused kinds are named; DNS off reports no DNS degradation', async (t) => {
  const slicesOnly = degradations({
    ranges: undefined,
    forbiddenWatches: { endpointslices: ['default'], pods: ['default'] },
    namespace: 'default',
    clusterDomain: 'corp.internal',
  });
  t.same(
    slicesOnly.map((d) => d.restore.resources),
    [['endpointslices.discovery.k8s.io'], ['pods']],
  );
  t.match(slicesOnly[1]?.what, /^DNS: pod names in corp\.internal/);
  const off = degradations({
    ranges: TUNNEL_ONLY,
    forbiddenWatches: {},
    namespace: 'default',
    clusterDomain: undefined,
  });
  t.same(
    off.map((d) => d.restore.resources),
    [['services']],
  );
});

t.test('a Service range the probe could not read for another reason is not blamed on RBAC', async (t) => {
  const ranges: Ranges = {
    ...TUNNEL_ONLY,
    service: { cidrs: ['10.96.0.0/16'], source: 'service-ips', notes: ['invalid-ClusterIP probe: 422'], forbidden: [] },
  };
  t.same(degradations({ ranges, forbiddenWatches: {}, namespace: 'default', clusterDomain: 'cluster.local' }), []);
});

t.test('no pods may be listed: the pod range is unknown', async (t) => {
  const ranges: Ranges = {
    ...TUNNEL_ONLY,
    pod: { cidrs: [], source: 'none', notes: ['pods in default: 403'], forbidden: ['list pods'] },
  };
  const found = degradations({ ranges, forbiddenWatches: {}, namespace: 'shop', clusterDomain: 'cluster.local' });
  t.same(found[1], {
    what: 'pod range unknown: pod IPs are routed only once a name resolves to them',
    restore: { verbs: ['list', 'watch'], resources: ['pods'], namespace: 'shop' },
  });
});
