// The session's routes against a real kernel route table (a namespace of
// our own): the first free device and TUN network, the plan checked for
// conflicts, every route journaled before it is added, and ranges of pods
// that appear later, or that the cluster DNS names, added with the same
// carve-outs and checks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { silentLogger } from '../../src/host/log.js';
import { LearnedRoutes, MAX_DNS_LEARNED_RANGES } from '../../src/session/learned-routes.js';
import { RouteConflictError } from '../../src/session/route-plan.js';
import { SessionRoutes } from '../../src/session/session-routes.js';
import { StateJournal } from '../../src/session/state-journal.js';
import { routeTable } from '../../src/tun/routes.js';
import { NetNs } from '../helpers/netns.js';

async function setup(t: Test, opts: { allowConflicting?: boolean; neverProxy?: string[] } = {}) {
  const ns = await NetNs.create(t, 'kvr');
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-routes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const journal = StateJournal.create(join(dir, 'sessions', 's.json'), {
    id: 's',
    context: 'c',
    namespace: 'default',
    cluster: 'k',
    server: 'https://10.96.0.1:443',
    socket: join(dir, 's.sock'),
    logFile: join(dir, 's.log'),
    createdAt: new Date().toISOString(),
    ownerPid: process.pid,
  });
  const warnings: string[] = [];
  const table = await routeTable({ netns: ns.name });
  const routes = new SessionRoutes({
    table,
    journal,
    neverProxy: opts.neverProxy ?? ['10.244.9.0/24'],
    allowConflicting: opts.allowConflicting ?? false,
    warn: (m) => warnings.push(m),
  });
  const dirs = { stateDir: join(dir, 'state'), runtimeDir: join(dir, 'run') };
  return { ns, journal, warnings, table, routes, dirs };
}

t.test('picks the first free device, plans around the API server, journals each route first', async (t) => {
  const { ns, journal, table, routes, dirs } = await setup(t);
  // kvpn0 is taken by something else on this machine.
  await ns.ip('link', 'add', 'kvpn0', 'type', 'veth', 'peer', 'name', 'kvpn0peer');
  const network = await routes.pickNetwork(dirs, 's');
  t.match(network, { device: 'kvpn1', linkAddress: '198.18.1.1/30', dnsAddress: '198.18.1.2' });
  await ns.ip('link', 'add', network.device, 'type', 'veth', 'peer', 'name', 'kvpn1peer');
  const planned = await routes.plan({
    service: ['10.96.0.0/12'],
    pod: ['10.244.0.0/16'],
    alsoProxy: [],
    apiServer: ['10.96.0.1/32'],
  });
  t.equal(planned.filter((r) => r.source === 'service').length, 20, 'the /12 split around the API server');
  t.same(
    routes.excluded.map((e) => e.cidr),
    ['10.96.0.1/32', '10.244.9.0/24'],
  );
  await routes.configureLink(1500);
  for (const r of planned) await routes.add(r);
  const kernel = (await table.listRoutes()).filter((r) => r.device === 'kvpn1').map((r) => r.destination);
  for (const r of planned) t.ok(kernel.includes(r.cidr), `${r.cidr} is in the kernel`);
  t.notOk(kernel.includes('10.96.0.0/12'));
  t.same(
    journal.entries.map((e) => e.change.kind === 'route' && e.change.destination),
    planned.map((r) => r.cidr),
    'every route journaled',
  );
});

t.test('a conflict is an error naming both; allowed, it is routed — except an identical prefix', async (t) => {
  const strict = await setup(t, { neverProxy: [] });
  await strict.ns.ip('link', 'add', 'corp0', 'type', 'veth', 'peer', 'name', 'corp1');
  await strict.ns.ip('link', 'set', 'corp0', 'up');
  await strict.ns.ip('route', 'add', '10.96.0.0/16', 'dev', 'corp0');
  await strict.ns.ip('route', 'add', '10.244.0.0/16', 'dev', 'corp0');
  await strict.routes.pickNetwork(strict.dirs, 's');
  const err = await strict.routes
    .plan({ service: ['10.96.0.0/12'], pod: ['10.244.0.0/16'], alsoProxy: [], apiServer: [] })
    .catch((e: unknown) => e);
  t.ok(err instanceof RouteConflictError);
  t.match(
    (err as Error).message,
    'the cluster range 10.96.0.0/12 overlaps the existing route 10.96.0.0/16 dev corp0 (and 1 more)',
  );

  const lax = await setup(t, { allowConflicting: true, neverProxy: [] });
  await lax.ns.ip('link', 'add', 'corp0', 'type', 'veth', 'peer', 'name', 'corp1');
  await lax.ns.ip('link', 'set', 'corp0', 'up');
  await lax.ns.ip('route', 'add', '10.96.0.0/16', 'dev', 'corp0');
  await lax.ns.ip('route', 'add', '10.244.0.0/16', 'dev', 'corp0');
  await lax.routes.pickNetwork(lax.dirs, 's');
  const planned = await lax.routes.plan({
    service: ['10.96.0.0/12'],
    pod: ['10.244.0.0/16'],
    alsoProxy: [],
    apiServer: [],
  });
  t.same(
    planned.map((r) => r.cidr),
    ['10.96.0.0/12'],
    'the wider range is routed (the more specific corp0 route still wins for its part); the identical one stays with corp0',
  );
  t.match(lax.warnings, [
    'routing 10.96.0.0/12 although it overlaps 10.96.0.0/16 dev corp0',
    /10\.244\.0\.0\/16 is already routed via corp0; not routed again/,
  ]);
});

t.test('a pod in a new range: routed (minus --never-proxy), unless it conflicts', async (t) => {
  const { ns, routes, warnings, table, dirs } = await setup(t);
  const network = await routes.pickNetwork(dirs, 's');
  await ns.ip('link', 'add', network.device, 'type', 'veth', 'peer', 'name', 'tunpeer');
  await routes.configureLink(1500);
  await routes.plan({ service: ['10.96.0.0/12'], pod: ['10.244.0.0/20'], alsoProxy: [], apiServer: [] });
  t.ok(await routes.addDiscovered('10.244.0.0/16', 'pod', 'pod web-1'), 'a pod outside 10.244.0.0/20');
  const kernel = (await table.listRoutes()).filter((r) => r.device === network.device).map((r) => r.destination);
  t.ok(kernel.includes('10.244.128.0/17'));
  t.notOk(
    kernel.some((c) => c.startsWith('10.244.9.')),
    'the --never-proxy /24 stays out',
  );
  await ns.ip('link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1');
  await ns.ip('link', 'set', 'lan0', 'up');
  await ns.ip('route', 'add', '10.250.0.0/24', 'dev', 'lan0');
  t.notOk(await routes.addDiscovered('10.250.0.0/16', 'pod', 'pod db-0'), 'conflicting: not routed');
  t.match(warnings, [/pod db-0 is in 10\.250\.0\.0\/16, which overlaps 10\.250\.0\.0\/24 dev lan0; not routed/]);
});

t.test(
  'the cluster DNS names an address outside the routes: its range is routed before the answer leaves',
  async (t) => {
    const { ns, routes, warnings, table, dirs } = await setup(t, { neverProxy: [] });
    const network = await routes.pickNetwork(dirs, 's');
    await ns.ip('link', 'add', network.device, 'type', 'veth', 'peer', 'name', 'tunpeer');
    await routes.configureLink(1500);
    for (const r of await routes.plan({
      service: ['10.96.0.0/16'],
      pod: ['10.244.0.0/16'],
      alsoProxy: [],
      apiServer: [],
    }))
      await routes.add(r);
    const routed: string[] = [];
    const learned = new LearnedRoutes({
      routes,
      onRouted: (cidr, source) => routed.push(`${cidr} ${source}`),
      warn: (m) => warnings.push(m),
      log: silentLogger,
    });
    const svc = (name: string, address: string) => ({
      name: `${name}.default.svc.cluster.local`,
      address,
      kind: 'service' as const,
    });
    t.equal(learned.learn([svc('web', '10.96.3.4')]), undefined, 'inside the routed ranges: the answer need not wait');
    const waiting = learned.learn([
      svc('echo', '10.100.7.8'),
      { name: '10-245-0-9.default.pod.cluster.local', address: '10.245.0.9', kind: 'pod' },
    ]);
    t.ok(waiting, 'outside: the answer waits');
    await waiting;
    const kernel = (await table.listRoutes()).filter((r) => r.device === network.device).map((r) => r.destination);
    t.ok(kernel.includes('10.100.0.0/16') && kernel.includes('10.245.0.0/16'), 'both covers are in the kernel by then');
    // Both ranges are added at once: either may land first.
    t.same([...routed].sort(), ['10.100.0.0/16 service', '10.245.0.0/16 pod']);
    t.equal(learned.learn([svc('echo2', '10.100.9.9')]), undefined, 'now covered');

    const many = Array.from({ length: MAX_DNS_LEARNED_RANGES }, (_, i) => svc(`s${i}`, `10.${110 + i}.0.1`));
    await learned.learn(many);
    t.equal(routed.length, MAX_DNS_LEARNED_RANGES, 'bounded: no more ranges than the limit come from DNS');
    t.same(
      warnings.filter((w) => w.includes('no more are routed')),
      [`the cluster DNS named addresses in more than ${MAX_DNS_LEARNED_RANGES} new ranges; no more are routed`],
      'said once',
    );
  },
);

t.test('IPv6: a candidate whose /126 is routed elsewhere is skipped; the link gets both addresses', async (t) => {
  const { ns, journal, table, routes, dirs } = await setup(t, { neverProxy: ['fd00:10:244:9::/64'] });
  await ns.ip('link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1');
  await ns.ip('link', 'set', 'lan0', 'up');
  // Session 0's IPv6 /126, spelled the long way, is another device's.
  await ns.ip('-6', 'route', 'add', 'fdc7:6b76:706e:0:0:0:0:0/126', 'dev', 'lan0');
  const network = await routes.pickNetwork(dirs, 's');
  t.match(network, {
    device: 'kvpn1',
    subnet: '198.18.1.0/30',
    linkAddress6: 'fdc7:6b76:706e:1::1/126',
    subnet6: 'fdc7:6b76:706e:1::/126',
    localAddress6: 'fdc7:6b76:706e:1::1',
    dnsAddress6: 'fdc7:6b76:706e:1::2',
  });
  await ns.ip('link', 'add', network.device, 'type', 'veth', 'peer', 'name', 'kvpn1peer');
  const planned = await routes.plan({
    service: ['10.96.0.0/16', 'fd00:10:96::/112'],
    pod: ['fd00:10:244::/56'],
    alsoProxy: ['fd00:beef::/48'],
    apiServer: ['10.96.0.1/32'],
  });
  await routes.configureLink(1500);
  t.ok(routes.ipv6, 'the link has IPv6');
  const addresses = await ns.exec('ip', ['-j', 'addr', 'show', 'dev', network.device]);
  const local = (
    JSON.parse(addresses) as { addr_info: { local: string; prefixlen: number; family: string }[] }[]
  )[0]?.addr_info
    .filter((a) => !a.local.startsWith('fe80'))
    .map((a) => `${a.local}/${a.prefixlen}`);
  t.same(local, ['198.18.1.1/30', 'fdc7:6b76:706e:1::1/126']);
  for (const r of planned) await routes.add(r);
  const kernel = (await table.listRoutes()).filter((r) => r.device === network.device).map((r) => r.destination);
  for (const cidr of ['fd00:10:96::/112', 'fd00:beef::/48', 'fd00:10:244:80::/57', 'fdc7:6b76:706e:1::/126'])
    t.ok(kernel.includes(cidr), `${cidr} is in the kernel`);
  t.notOk(
    kernel.some((c) => c.startsWith('fd00:10:244:9:')),
    'the IPv6 --never-proxy /64 stays out',
  );
  const journaled = journal.entries.flatMap((e) => (e.change.kind === 'route' ? [e.change.destination] : []));
  t.ok(
    journaled.includes('fd00:10:96::/112') && journaled.includes('fd00:beef::/48'),
    'IPv6 routes journaled like IPv4 ones',
  );
  t.same(
    routes.routed.map((r) => r.cidr),
    planned.map((r) => r.cidr),
  );
});

t.test('IPv6 turned off on this machine: the session keeps IPv4; IPv6 ranges excluded, said once', async (t) => {
  const { ns, table, routes, warnings, dirs } = await setup(t, { neverProxy: [] });
  await ns.exec('sysctl', ['-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
  const network = await routes.pickNetwork(dirs, 's');
  await ns.ip('link', 'add', network.device, 'type', 'veth', 'peer', 'name', 'tunpeer');
  const planned = await routes.plan({
    service: ['10.96.0.0/16', 'fd00:10:96::/112'],
    pod: ['fd00:10:244::/56'],
    alsoProxy: [],
    apiServer: [],
  });
  await routes.configureLink(1500);
  t.notOk(routes.ipv6);
  for (const r of planned) await routes.add(r);
  t.same(
    routes.routed.map((r) => r.cidr),
    ['10.96.0.0/16'],
  );
  t.same(routes.excluded, [
    { cidr: 'fd00:10:96::/112', reason: 'no IPv6 on this machine' },
    { cidr: 'fd00:10:244::/56', reason: 'no IPv6 on this machine' },
  ]);
  t.equal(warnings.length, 1);
  t.match(warnings[0], /^no IPv6 on kvpn0 \(.+\); IPv6 cluster ranges are not routed$/);
  const kernel = (await table.listRoutes()).filter((r) => r.device === network.device).map((r) => r.destination);
  t.ok(kernel.includes('10.96.0.0/16') && kernel.includes('198.18.0.0/30'), 'IPv4 as ever');
});
