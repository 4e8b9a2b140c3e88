// What stands in front of an intercepted Service, as JSON: where the router
// listens so the Service's targetPorts land on it unchanged, the decoy, the
// Deployment's hardening; and which Services can be intercepted at all.
import t from 'tap';
import {
  ANNOTATION_ORIGINAL_SELECTOR,
  decoyName,
  decoyService,
  routerDeployment,
  routerListens,
  routerName,
  routerRoutes,
  routerSelector,
} from '../../src/intercept/router-manifest.js';
import { interceptable } from '../../src/intercept/service-redirect.js';

t.test('router ports: numeric targetPorts as they are, named ones at the workload number', async (t) => {
  const ports = [
    { name: 'http', port: 80, targetPort: 'http' },
    { name: 'tcp-echo', port: 7, targetPort: 9007 },
    { name: 'plain', port: 81 },
    { name: 'admin', port: 82, targetPort: 'admin' },
  ];
  const listens = routerListens(ports, new Map([['http', 8080]]));
  t.same(
    listens.map((l) => [l.servicePort.name, l.port, l.portName]),
    [
      ['tcp-echo', 9007, undefined],
      ['plain', 81, undefined],
      ['http', 8080, 'http'],
      ['admin', 18000, 'admin'],
    ],
    'a name the workload does not declare gets a free port; the Service still resolves it by name',
  );
  t.same(routerRoutes(listens, '10.96.0.9'), [
    { port: 9007, upstream: '10.96.0.9:7' },
    { port: 81, upstream: '10.96.0.9:81' },
    { port: 8080, upstream: '10.96.0.9:80' },
    { port: 18000, upstream: '10.96.0.9:82' },
  ]);
  t.same(
    routerRoutes(listens.slice(0, 1), 'fd00:10:96::9'),
    [{ port: 9007, upstream: '[fd00:10:96::9]:7' }],
    "an IPv6 decoy: the authority in brackets, as the router's configuration reads it",
  );
});

t.test('the router Deployment: hardened, no token, low ports through a safe sysctl only when needed', async (t) => {
  const listens = routerListens([{ name: 'http', port: 80, targetPort: 'http' }], new Map([['http', 8080]]));
  const d = routerDeployment({
    namespace: 'shop',
    service: 'web',
    listens,
    decoyIp: '10.96.0.9',
    image: 'node:22-alpine',
  });
  const pod = d.spec.template.spec;
  t.same(d.spec.selector.matchLabels, routerSelector('web'));
  t.equal(pod.automountServiceAccountToken, false, 'no Kubernetes credentials');
  t.match(pod.containers[0].securityContext, {
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
  });
  t.same(pod.containers[0].ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
  t.equal(pod.securityContext.sysctls, undefined);
  const low = routerDeployment({
    namespace: 'shop',
    service: 'web',
    listens: routerListens([{ port: 80, targetPort: 80 }], new Map()),
    decoyIp: '10.96.0.9',
    image: 'node:22-alpine',
  });
  t.same(low.spec.template.spec.securityContext.sysctls, [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }]);
  t.match(decoyService('shop', 'web', [{ name: 'http', port: 80, targetPort: 'http' }], { app: 'web' }), {
    metadata: { name: 'kvpn-decoy-web' },
    spec: { type: 'ClusterIP', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  });
});

t.test('names stay within 63 characters and apart', async (t) => {
  const long = 'a'.repeat(63);
  t.ok(routerName(long).length <= 63 && decoyName(long).length <= 63);
  t.not(routerName(`${long.slice(0, 62)}b`), routerName(long), 'a hash keeps long names apart');
});

t.test('which Services can be intercepted', async (t) => {
  const svc = (spec: object, annotations?: object) => ({
    metadata: { name: 'web', uid: 'u', ...(annotations ? { annotations } : {}) },
    spec: { ports: [{ port: 80 }], ...spec },
  });
  t.match(interceptable(svc({ selector: { app: 'web' } })), { selector: { app: 'web' }, redirected: false });
  t.match(
    interceptable(svc({ selector: routerSelector('web') }, { [ANNOTATION_ORIGINAL_SELECTOR]: '{"app":"web"}' })),
    { selector: { app: 'web' }, redirected: true },
    'a redirected Service counts by the selector it keeps',
  );
  const refused: [object, RegExp][] = [
    [svc({ selector: { app: 'web' }, clusterIP: 'None' }), /headless/],
    [svc({}), /no selector/],
    [svc({ selector: { app: 'web' }, ports: [{ port: 53, protocol: 'UDP' }] }), /UDP port/],
    [svc({ selector: routerSelector('web') }), /does not say what it selected/],
  ];
  for (const [s, message] of refused)
    t.throws(() => interceptable(s), { code: /^KVPN_ERR_INTERCEPT_SERVICE$/, message });
});
