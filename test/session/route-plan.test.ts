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

t.test('IPv6: --also-proxy and --never-proxy ranges, an IPv6 API server, both families side by side', async (t) => {
  const plan = planRoutes({
    service: ['10.96.0.0/16', 'fd00:10:96::/112'],
    pod: ['10.244.0.0/16', 'fd00:10:244::/56'],
    alsoProxy: ['FD00:BEEF::/48', '2001:db8::7'],
    neverProxy: ['fd00:10:244:ff::/64'],
    apiServer: ['fd00:10:96::1/128'],
  });
  t.same(
    plan.routes.filter((r) => r.source === 'also-proxy').map((r) => r.cidr),
    ['2001:db8::7/128', 'fd00:beef::/48'],
    'IPv6 --also-proxy ranges in canonical form (an address becomes a /128)',
  );
  t.same(plan.excluded, [
    { cidr: 'fd00:10:96::1/128', reason: 'Kubernetes API server' },
    { cidr: 'fd00:10:244:ff::/64', reason: '--never-proxy' },
  ]);
  const services = plan.routes.filter((r) => r.source === 'service').map((r) => r.cidr);
  t.ok(services.includes('10.96.0.0/16'), 'the IPv4 range is untouched by IPv6 holes');
  t.equal(services.filter((c) => c.includes(':')).length, 16, 'a /112 minus one host is 16 prefixes');
  t.notOk(services.includes('fd00:10:96::/112'));
  const pods = plan.routes.filter((r) => r.source === 'pod').map((r) => r.cidr);
  t.ok(pods.includes('10.244.0.0/16'));
  t.equal(pods.filter((c) => c.includes(':')).length, 8, 'a /56 minus a /64 is 8 prefixes');
  t.notOk(pods.some((c) => c.startsWith('fd00:10:244:ff:')));
});

t.test('IPv6 conflicts: same family only, default routes never', async (t) => {
  const existing = [
    { destination: '::/0', device: 'eth0', family: 6 as const, gateway: 'fe80::1' },
    { destination: 'fe80::/64', device: 'eth0', family: 6 as const },
    { destination: 'fd00:10::/32', device: 'wg0', family: 6 as const },
    { destination: '10.0.0.0/8', device: 'wg0', family: 4 as const },
  ];
  const conflicts = findConflicts(['fd00:10:96::/112', 'fd00:20::/64', '10.96.0.0/12'], existing, 'kvpn0');
  t.same(
    conflicts.map((c) => `${c.ours} vs ${c.theirs.destination}`),
    ['fd00:10:96::/112 vs fd00:10::/32', '10.96.0.0/12 vs 10.0.0.0/8'],
  );
});
