import t from 'tap';
import { findConflicts, planRoutes } from '../../src/session/route-plan.js';

t.test('the API server address inside the service range is carved out', async (t) => {
  const plan = planRoutes({
    service: ['10.96.0.0/12'],
    pod: ['10.244.0.0/16'],
    alsoProxy: [],
    neverProxy: [],
    apiServer: ['10.96.0.1/32'],
  });
  t.notOk(
    plan.routes.some((r) => r.cidr === '10.96.0.0/12'),
    'the whole range is not routed',
  );
  t.equal(plan.routes.filter((r) => r.source === 'service').length, 20, 'a /12 minus a host is 20 prefixes');
  t.same(plan.excluded, [{ cidr: '10.96.0.1/32', reason: 'Kubernetes API server' }]);
  t.same(
    plan.routes.filter((r) => r.source === 'pod'),
    [{ cidr: '10.244.0.0/16', source: 'pod' }],
  );
});

t.test('--never-proxy carves, --also-proxy adds, overlaps are routed once', async (t) => {
  const plan = planRoutes({
    service: ['10.96.0.0/12'],
    pod: ['10.96.0.0/16'],
    alsoProxy: ['192.168.50.7/32', '10.100.0.0/16'],
    neverProxy: ['10.97.0.0/16'],
    apiServer: ['127.0.0.1/32'],
  });
  t.same(plan.excluded, [{ cidr: '10.97.0.0/16', reason: '--never-proxy' }], 'loopback API server: nothing to carve');
  t.same(
    plan.routes.filter((r) => r.source === 'also-proxy').map((r) => r.cidr),
    ['10.100.0.0/16', '192.168.50.7/32'],
  );
  t.notOk(
    plan.routes.some((r) => r.source === 'pod'),
    'the pod range lies inside the service range already routed',
  );
  t.notOk(plan.routes.some((r) => r.cidr === '10.97.0.0/16' || (r.cidr === '10.100.0.0/16' && r.source === 'service')));
});

t.test('conflicts name both routes; default routes and our own device never conflict', async (t) => {
  const existing = [
    { destination: '0.0.0.0/0', device: 'eth0', family: 4 as const, gateway: '192.168.1.1' },
    { destination: '10.96.0.0/16', device: 'kvpn0', family: 4 as const },
    { destination: '10.0.0.0/8', device: 'wg0', family: 4 as const },
    { destination: '192.168.1.0/24', device: 'eth0', family: 4 as const },
  ];
  const conflicts = findConflicts(['10.96.0.0/12', '10.244.0.0/16', '172.16.0.0/16'], existing, 'kvpn0');
  t.same(
    conflicts.map((c) => `${c.ours} vs ${c.theirs.destination} dev ${c.theirs.device}`),
    ['10.96.0.0/12 vs 10.0.0.0/8 dev wg0', '10.244.0.0/16 vs 10.0.0.0/8 dev wg0'],
  );
});
