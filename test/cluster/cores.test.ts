// The stand-in's pure parts, without a world: kube-proxy rule rendering,
// selectors, patches, the DNS zone and answers, tables, admission.
import * as packet from 'dns-packet';
import t from 'tap';
import { Admission } from './apiserver/admission.js';
import type { KObject } from './apiserver/objects.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './apiserver/patch.js';
import { RESOURCES } from './apiserver/resources.js';
import { fieldMatcher, labelMatcher } from './apiserver/selectors.js';
import { humanDuration } from './apiserver/tables.js';
import { serviceRules } from './controllers/kube-proxy.js';
import { DnsServer } from './dns/server.js';
import { clusterZone } from './dns/zone.js';
import { renderServiceRules } from './network/service-rules.js';

const svc = (name: string, spec: object, ns = 'default'): KObject => ({ metadata: { name, namespace: ns }, spec });
const slice = (svcName: string, ports: object[], endpoints: object[], ns = 'default'): KObject => ({
  metadata: { name: `${svcName}-x`, namespace: ns, labels: { 'kubernetes.io/service-name': svcName } },
  ports,
  endpoints,
});

const SERVICES = [
  svc('echo', { clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }),
  svc('peers', { clusterIP: 'None', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }),
  svc('ext', { type: 'ExternalName', externalName: 'echo.default.svc.cluster.local' }),
];
const SLICES = [
  slice(
    'echo',
    [{ name: 'http', port: 8080, protocol: 'TCP' }],
    [
      { addresses: ['10.244.0.2'], conditions: { ready: true } },
      { addresses: ['10.244.1.2'], conditions: { ready: true } },
      { addresses: ['10.244.1.9'], conditions: { ready: false } },
    ],
  ),
  slice(
    'peers',
    [{ name: 'http', port: 8080, protocol: 'TCP' }],
    [{ addresses: ['10.244.0.3'], hostname: 'peers-0', conditions: { ready: true } }],
  ),
];

t.test('kube-proxy: ready endpoints only, target ports, one chain per endpoint', async (t) => {
  const rules = serviceRules(SERVICES, SLICES);
  t.same(rules, [
    {
      label: 'default/echo:http',
      clusterIp: '10.96.1.1',
      port: 80,
      protocol: 'TCP',
      endpoints: [
        { ip: '10.244.0.2', port: 8080 },
        { ip: '10.244.1.2', port: 8080 },
      ],
    },
  ]);
  const text = renderServiceRules(rules, '10.96.0.0/12');
  t.match(text, /ip daddr 10\.96\.1\.1 tcp dport 80 jump svc-0 comment "default\/echo:http"/);
  t.match(text, /numgen random mod 2 vmap \{ 0 : jump svc-0-ep-0, 1 : jump svc-0-ep-1 \}/);
  t.match(
    text,
    /ip saddr 10\.244\.1\.2 meta mark set meta mark \| 0x4000\n {4}meta l4proto tcp dnat to 10\.244\.1\.2:8080/,
  );
  t.match(text, /type filter hook prerouting priority -90; policy accept;\n {4}ip daddr 10\.96\.0\.0\/12 reject/);
  t.match(text, /^add table ip kvpn-kube-proxy\ndelete table ip kvpn-kube-proxy\n/, 'replaced atomically');
});

t.test('label and field selectors', async (t) => {
  const o: KObject = {
    metadata: { name: 'a', namespace: 'ns', labels: { app: 'echo', tier: 'web' } },
    status: { phase: 'Running' },
  };
  t.ok(labelMatcher('app=echo,tier in (web,db),!gone')(o));
  t.notOk(labelMatcher('app!=echo')(o));
  t.notOk(labelMatcher('tier notin (web)')(o));
  t.ok(labelMatcher('tier')(o));
  t.ok(fieldMatcher('metadata.name=a,status.phase!=Pending')(o));
  t.notOk(fieldMatcher('metadata.namespace==other')(o));
  t.throws(() => labelMatcher('a b c'), { code: 400, reason: 'BadRequest' });
});

t.test('patches: merge, strategic (lists by key, directives), JSON patch', async (t) => {
  const pod = {
    spec: {
      containers: [
        { name: 'a', image: 'x', env: [{ name: 'A', value: '1' }] },
        { name: 'b', image: 'y' },
      ],
    },
    metadata: { labels: { x: '1', y: '2' } },
  };
  t.same(mergePatch(pod, { metadata: { labels: { x: null, z: '3' } } }).metadata.labels, { y: '2', z: '3' });
  const smp = strategicMergePatch(pod, {
    $setElementOrder: undefined,
    spec: {
      containers: [
        { name: 'a', image: 'x2', env: [{ name: 'B', value: '2' }] },
        { name: 'b', $patch: 'delete' },
      ],
      '$setElementOrder/containers': [{ name: 'a' }],
    },
  });
  t.same(smp.spec.containers, [
    {
      name: 'a',
      image: 'x2',
      env: [
        { name: 'A', value: '1' },
        { name: 'B', value: '2' },
      ],
    },
  ]);
  t.same(
    jsonPatch({ a: [1, 2] }, [
      { op: 'add', path: '/a/-', value: 3 },
      { op: 'replace', path: '/b', value: 'x' },
      { op: 'remove', path: '/a/0' },
    ]),
    { a: [2, 3], b: 'x' },
  );
  t.throws(() => jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]), {
    code: 400,
    message: 'testing value failed',
  });
});

interface Decoded {
  id: number;
  rcode: string;
  // biome-ignore lint/suspicious/noExplicitAny: record data differs by type
  answers: { type: string; data: any }[];
  authorities: { type: string }[];
  additionals: { data: unknown }[];
}

function ask(server: DnsServer, name: string, type: packet.RecordType): Decoded {
  const q = packet.encode({ type: 'query', id: 7, flags: packet.RECURSION_DESIRED, questions: [{ type, name }] });
  return packet.decode(server.answer(q, true) as Buffer) as unknown as Decoded;
}

t.test('cluster zone and DNS answers', async (t) => {
  const server = new DnsServer(clusterZone(SERVICES, SLICES, 'cluster.local'));
  const a = ask(server, 'echo.default.svc.cluster.local', 'A');
  t.equal(a.rcode, 'NOERROR');
  t.same(
    a.answers?.map((x) => x.data),
    ['10.96.1.1'],
  );
  t.equal(a.id, 7);
  t.same(
    ask(server, 'peers.default.svc.cluster.local', 'A').answers?.map((x) => x.data),
    ['10.244.0.3'],
    'headless: ready endpoints',
  );
  t.same(
    ask(server, 'peers-0.peers.default.svc.cluster.local', 'A').answers?.map((x) => x.data),
    ['10.244.0.3'],
  );
  const cname = ask(server, 'ext.default.svc.cluster.local', 'A');
  t.same(
    cname.answers?.map((x) => [x.type, x.data]),
    [
      ['CNAME', 'echo.default.svc.cluster.local'],
      ['A', '10.96.1.1'],
    ],
  );
  const srv = ask(server, '_http._tcp.echo.default.svc.cluster.local', 'SRV');
  t.match(srv.answers?.[0]?.data, { port: 80, target: 'echo.default.svc.cluster.local' });
  t.same(
    srv.additionals?.map((x) => x.data),
    ['10.96.1.1'],
  );
  t.same(
    ask(server, '1.1.96.10.in-addr.arpa', 'PTR').answers?.map((x) => x.data),
    ['echo.default.svc.cluster.local'],
  );
  t.same(
    ask(server, '10-244-3-4.default.pod.cluster.local', 'A').answers?.map((x) => x.data),
    ['10.244.3.4'],
  );
  const nx = ask(server, 'nosuch.default.svc.cluster.local', 'A');
  t.equal(nx.rcode, 'NXDOMAIN');
  t.equal(nx.authorities?.[0]?.type, 'SOA');
  const nodata = ask(server, 'echo.default.svc.cluster.local', 'AAAA');
  t.equal(nodata.rcode, 'NOERROR');
  t.same(nodata.answers, []);
  t.equal(ask(server, 'default.svc.cluster.local', 'A').rcode, 'NOERROR', 'an empty non-terminal is not NXDOMAIN');
  t.equal(ask(server, 'example.com', 'A').rcode, 'SERVFAIL', 'no upstream behind the cluster DNS');
  t.equal(server.answer(Buffer.from('garbage'), true), undefined, 'garbage is dropped');
});

t.test('ages as kubectl prints them', async (t) => {
  t.equal(humanDuration(5_000), '5s');
  t.equal(humanDuration(119_000), '119s');
  t.equal(humanDuration(150_000), '2m30s');
  t.equal(humanDuration(3 * 3600_000 + 60_000), '3h1m');
  t.equal(humanDuration(50 * 3600_000), '2d2h');
});

t.test('admission: defaults, ClusterIP allocation, messages', async (t) => {
  const adm = new Admission('10.96.0.0/12');
  const services = RESOURCES.find((r) => r.resource === 'services');
  const pods = RESOURCES.find((r) => r.resource === 'pods');
  if (!services || !pods) throw new Error('resource table');
  const s: KObject = { metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } };
  adm.admitCreate(services, s, false);
  t.match(s.spec, { type: 'ClusterIP', ipFamilies: ['IPv4'], ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }] });
  t.match(s.spec.clusterIP, /^10\.(9[6-9]|10\d|11[01])\./);
  const taken: KObject = { metadata: { name: 'again' }, spec: { clusterIP: s.spec.clusterIP, ports: [{ port: 80 }] } };
  t.throws(() => adm.admitCreate(services, taken, false), { message: /provided IP is already allocated/ });
  const badName: KObject = { metadata: { name: 'Web' }, spec: { ports: [{ port: 80 }] } };
  t.throws(() => adm.admitCreate(services, badName, false), {
    message: /^Service "Web" is invalid: metadata\.name: Invalid value: "Web": a DNS-1035 label/,
  });
  const p: KObject = { metadata: { generateName: 'job-' }, spec: { containers: [{ name: 'c', image: 'node:22' }] } };
  adm.admitCreate(pods, p, false);
  t.match(p.metadata.name, /^job-[a-z0-9]{5}$/);
  t.match(p.spec, {
    restartPolicy: 'Always',
    dnsPolicy: 'ClusterFirst',
    terminationGracePeriodSeconds: 30,
    containers: [{ imagePullPolicy: 'IfNotPresent' }],
  });
  t.same(p.status, { phase: 'Pending', qosClass: 'BestEffort' });
  t.throws(() => adm.admitCreate(pods, { metadata: { name: 'x' }, spec: { containers: [] } }, false), {
    message: 'Pod "x" is invalid: spec.containers: Required value',
  });
});
