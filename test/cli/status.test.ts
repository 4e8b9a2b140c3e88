// `kvpn status` with both IP families: the TUN's IPv4 and IPv6 addresses,
// the DNS server's two addresses, and the routes one row per family; the
// JSON only gains fields (`tun`, each route's `family`), and a daemon of an
// older kvpn (without them) still renders.
import t from 'tap';
import { renderStatus } from '../../src/cli/status.js';
import type { SessionPaths } from '../../src/host/paths.js';
import type { KubeClient } from '../../src/kube/client.js';
import type { DnsSetup } from '../../src/session/dns-setup.js';
import type { SessionRoutes } from '../../src/session/session-routes.js';
import { buildStatus, buildSummary } from '../../src/session/session-status.js';
import { tunNetwork } from '../../src/session/tun-network.js';
import type { RouteInfo, SessionStatus } from '../../src/session/types.js';

const ROUTES: RouteInfo[] = [
  { cidr: '10.96.0.0/16', source: 'service' },
  { cidr: 'fd00:10:96::/112', source: 'service' },
  { cidr: '10.244.0.0/16', source: 'pod' },
  { cidr: 'fd00:10:244::/56', source: 'pod' },
];

function status(opts: { ipv6: boolean; routes?: RouteInfo[] }): SessionStatus {
  const routes = opts.routes ?? ROUTES;
  const summary = buildSummary({
    paths: { id: 's1', stateFile: '/s.json', sessionDir: '/s', logFile: '/s.log', socket: '/s.sock' } as SessionPaths,
    client: {
      contextName: 'dual',
      clusterName: 'kind-dual',
      server: new URL('https://127.0.0.1:6443'),
      namespace: 'default',
    } as unknown as KubeClient,
    network: tunNetwork(2),
    routes: { routed: routes, excluded: [], ipv6: opts.ipv6 } as unknown as SessionRoutes,
    dns: { mode: 'resolved', clusterDomain: 'cluster.local', searchDomains: ['default.svc.cluster.local'] } as DnsSetup,
    relay: undefined,
    startedAt: 1000,
    now: 2000,
    pid: 42,
    degradations: [],
  });
  return buildStatus({
    summary,
    routes,
    startedAt: 1000,
    now: 2000,
    closing: false,
    relay: undefined,
    stack: undefined,
    dns: undefined,
    ranges: undefined,
    warnings: [],
    degradations: [],
    exposures: [],
    intercepts: [],
    mounts: [],
  });
}

t.test('JSON: the TUN per family, each route with its family; the old fields as they were', async (t) => {
  const s = JSON.parse(JSON.stringify(status({ ipv6: true })));
  t.equal(s.device, 'kvpn2');
  t.same(s.tun, {
    device: 'kvpn2',
    ipv4: { address: '198.18.2.1', prefix: '198.18.2.0/30', dns: '198.18.2.2' },
    ipv6: { address: 'fdc7:6b76:706e:2::1', prefix: 'fdc7:6b76:706e:2::/126', dns: 'fdc7:6b76:706e:2::2' },
  });
  t.same(s.dns, {
    mode: 'resolved',
    server: '198.18.2.2',
    clusterDomain: 'cluster.local',
    searchDomains: ['default.svc.cluster.local'],
  });
  t.same(
    s.routes.map((r: RouteInfo) => `${r.cidr} ${r.source} ${r.family}`),
    ['10.96.0.0/16 service 4', 'fd00:10:96::/112 service 6', '10.244.0.0/16 pod 4', 'fd00:10:244::/56 pod 6'],
  );
});

t.test('text: addresses of both families, DNS at both, routes one row per family', async (t) => {
  const text = renderStatus(status({ ipv6: true }), 'kvpn');
  t.match(text, '  device      kvpn2: 198.18.2.1/30, fdc7:6b76:706e:2::1/126\n');
  t.match(text, '  routes IPv4 10.96.0.0/16 (service), 10.244.0.0/16 (pod)\n');
  t.match(text, '  routes IPv6 fd00:10:96::/112 (service), fd00:10:244::/56 (pod)\n');
  t.match(text, '  DNS         resolved, server 198.18.2.2 (also fdc7:6b76:706e:2::2), domain cluster.local');
});

t.test('text: no IPv6 on this machine; an IPv6-only cluster; no routes', async (t) => {
  const noV6 = renderStatus(status({ ipv6: false, routes: ROUTES.filter((r) => !r.cidr.includes(':')) }), 'kvpn');
  t.match(noV6, '  device      kvpn2: 198.18.2.1/30 (no IPv6 on this machine)\n');
  t.notMatch(noV6, 'routes IPv6');
  t.match(noV6, '  DNS         resolved, server 198.18.2.2, domain');
  const v6only = renderStatus(status({ ipv6: true, routes: ROUTES.filter((r) => r.cidr.includes(':')) }), 'kvpn');
  t.notMatch(v6only, 'routes IPv4');
  t.match(v6only, '  routes IPv6 fd00:10:96::/112 (service), fd00:10:244::/56 (pod)\n');
  t.match(renderStatus(status({ ipv6: true, routes: [] }), 'kvpn'), '  routes      none\n');
});

t.test('a daemon of an older kvpn (no tun, no route family) still renders', async (t) => {
  const s = status({ ipv6: true });
  const old = { ...s, tun: undefined, routes: s.routes.map(({ cidr, source }) => ({ cidr, source })) };
  const text = renderStatus(old, 'kvpn');
  t.match(text, '  device      kvpn2\n');
  t.match(text, '  routes IPv6 fd00:10:96::/112 (service), fd00:10:244::/56 (pod)\n');
  t.match(text, '  DNS         resolved, server 198.18.2.2, domain');
});
