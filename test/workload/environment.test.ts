// The kubelet's rules for a container's environment (makeEnvironmentVariables,
// v1.34): precedence of Service links < envFrom < env, expansion against what
// is defined before, optional and missing references, the Downward API and
// resource fields with the kubelet's rounding, and Service link names.
import t from 'tap';
import { containerEnvironment, type EnvironmentInputs } from '../../src/workload/environment.js';
import type { ConfigMap, Container, Pod, Service } from '../../src/workload/types.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function svc(namespace: string, name: string, clusterIP: string, ports: Service['spec']['ports']): Service {
  return { metadata: { namespace, name }, spec: { clusterIP, ports } };
}

const KUBERNETES = svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443, protocol: 'TCP' }]);

const POD: Pod = {
  metadata: {
    name: 'web-7d9f-abcde',
    namespace: 'shop',
    uid: '1111-2222',
    labels: { app: 'web', 'app.kubernetes.io/part-of': 'shop' },
    annotations: { note: 'hello' },
  },
  spec: { containers: [], nodeName: 'node-1', serviceAccountName: 'web-sa' },
  status: {
    hostIP: '192.168.1.10',
    hostIPs: [{ ip: '192.168.1.10' }, { ip: 'fd00::10' }],
    podIP: '10.244.1.5',
    podIPs: [{ ip: '10.244.1.5' }, { ip: 'fd00:244::5' }],
  },
};

function inputs(container: Container, over: Partial<EnvironmentInputs> = {}): EnvironmentInputs {
  return {
    facts: { namespace: 'shop', spec: { containers: [container] }, pod: undefined },
    container,
    configMaps: new Map([
      ['cfg', { metadata: { name: 'cfg' }, data: { A: 'cm-a', B: 'cm-b', 'dotted.key': 'x', '1st': 'y' } }],
    ]),
    secrets: new Map([['sec', { metadata: { name: 'sec' }, data: { A: b64('sec-a'), TOKEN: b64('t0k') } }]]),
    services: [KUBERNETES],
    ...over,
  };
}

function envOf(i: EnvironmentInputs): Record<string, string | undefined> {
  return Object.fromEntries(containerEnvironment(i).entries.map((e) => [e.name, e.value]));
}

t.test('precedence: Service links < envFrom in order < env in order', async (t) => {
  const c: Container = {
    name: 'app',
    envFrom: [{ configMapRef: { name: 'cfg' } }, { secretRef: { name: 'sec' } }],
    env: [
      { name: 'B', value: 'env-b' },
      { name: 'B', value: 'env-b2 $(B)' },
      { name: 'KUBERNETES_SERVICE_HOST', value: 'overridden' },
    ],
  };
  const env = envOf(inputs(c));
  t.equal(env.A, 'sec-a', 'a later envFrom source replaces an earlier one');
  t.equal(env.B, 'env-b2 env-b', 'a later env entry replaces, and sees, the earlier one');
  t.equal(env.KUBERNETES_SERVICE_HOST, 'overridden', 'env replaces a Service link variable');
  t.equal(env.KUBERNETES_SERVICE_PORT, '443');
  const names = containerEnvironment(inputs(c)).entries.map((e) => e.name);
  t.ok(names.indexOf('KUBERNETES_SERVICE_PORT') > names.indexOf('B'), 'Service links come after the definitions');
});

t.test('expansion sees earlier definitions and Service links, not later ones', async (t) => {
  const c: Container = {
    name: 'app',
    envFrom: [{ prefix: 'CFG_', configMapRef: { name: 'cfg' } }],
    env: [
      { name: 'FIRST', value: '$(SECOND)|$(CFG_A)|$(KUBERNETES_SERVICE_HOST)' },
      { name: 'SECOND', value: 'two' },
      { name: 'CHAIN1', value: 'c1' },
      { name: 'CHAIN2', value: '$(CHAIN1)-c2' },
      { name: 'CHAIN3', value: '$(CHAIN2)-c3' },
      { name: 'ESCAPED', value: '$$(SECOND)' },
      { name: 'FROM_FIELD', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'USES_FIELD', value: 'ns=$(FROM_FIELD)' },
      { name: 'NOT_EXPANDED', valueFrom: { configMapKeyRef: { name: 'lit', key: 'v' } } },
    ],
  };
  const env = envOf(
    inputs(c, {
      configMaps: new Map<string, ConfigMap>([
        ['cfg', { metadata: { name: 'cfg' }, data: { A: 'cm-a' } }],
        ['lit', { metadata: { name: 'lit' }, data: { v: '$(SECOND)' } }],
      ]),
    }),
  );
  t.equal(env.FIRST, '$(SECOND)|cm-a|10.96.0.1');
  t.equal(env.CHAIN3, 'c1-c2-c3');
  t.equal(env.ESCAPED, '$(SECOND)');
  t.equal(env.USES_FIELD, 'ns=shop');
  t.equal(env.NOT_EXPANDED, '$(SECOND)', 'values from references are never expanded');
  t.equal(env.CFG_A, 'cm-a', 'envFrom prefix');
});

t.test('an entry with neither value nor valueFrom is the empty string', async (t) => {
  const env = envOf(inputs({ name: 'app', env: [{ name: 'EMPTY' }, { name: 'ALSO', value: '' }] }));
  t.equal(env.EMPTY, '');
  t.equal(env.ALSO, '');
});

t.test('optional references: missing ones are skipped, keeping an earlier value', async (t) => {
  const c: Container = {
    name: 'app',
    envFrom: [
      { configMapRef: { name: 'nope', optional: true } },
      { secretRef: { name: 'nope', optional: true } },
      { configMapRef: { name: 'cfg' } },
    ],
    env: [
      { name: 'A', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'missing', optional: true } } },
      { name: 'GONE', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } },
      { name: 'GONE2', valueFrom: { secretKeyRef: { name: 'sec', key: 'missing', optional: true } } },
    ],
  };
  const env = envOf(inputs(c));
  t.equal(env.A, 'cm-a', 'the skipped entry leaves the envFrom value');
  t.notOk('GONE' in env);
  t.notOk('GONE2' in env);
});

t.test('missing non-optional references name the object and key', async (t) => {
  const cases: [Container, RegExp][] = [
    [{ name: 'c', envFrom: [{ configMapRef: { name: 'nope' } }] }, /ConfigMap "shop\/nope" does not exist/],
    [{ name: 'c', envFrom: [{ secretRef: { name: 'nope' } }] }, /Secret "shop\/nope" does not exist/],
    [
      { name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'zz' } } }] },
      /ConfigMap "shop\/cfg" has no key "zz"/,
    ],
    [
      { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] },
      /Secret "shop\/nope" does not exist/,
    ],
    [
      { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'sec', key: 'zz' } } }] },
      /Secret "shop\/sec" has no key "zz"/,
    ],
  ];
  for (const [c, message] of cases) {
    t.throws(() => containerEnvironment(inputs(c)), { code: 'KVPN_ERR_WORKLOAD_MISSING_REF', message });
  }
});

t.test('envFrom keys pass as they are (v1.34 does not skip names that are not C identifiers)', async (t) => {
  const env = envOf(inputs({ name: 'app', envFrom: [{ configMapRef: { name: 'cfg' } }] }));
  t.equal(env['dotted.key'], 'x');
  t.equal(env['1st'], 'y');
});

t.test('fieldRef: from the running pod; without one only the namespace is known', async (t) => {
  const fields = [
    'metadata.name',
    'metadata.namespace',
    'metadata.uid',
    "metadata.labels['app']",
    "metadata.labels['app.kubernetes.io/part-of']",
    "metadata.labels['missing']",
    "metadata.annotations['note']",
    'spec.nodeName',
    'spec.serviceAccountName',
    'status.hostIP',
    'status.hostIPs',
    'status.podIP',
    'status.podIPs',
  ];
  const c: Container = {
    name: 'app',
    env: fields.map((f, i) => ({ name: `F${i}`, valueFrom: { fieldRef: { fieldPath: f } } })),
  };
  const withPod = inputs(c);
  withPod.facts = { ...withPod.facts, pod: POD };
  t.same(Object.values(envOf(withPod)).slice(0, fields.length), [
    'web-7d9f-abcde',
    'shop',
    '1111-2222',
    'web',
    'shop',
    '',
    'hello',
    'node-1',
    'web-sa',
    '192.168.1.10',
    '192.168.1.10,fd00::10',
    '10.244.1.5',
    '10.244.1.5,fd00:244::5',
  ]);
  const noPod = containerEnvironment(inputs(c)).entries.filter((e) => e.source === 'fieldRef');
  t.same(
    noPod.filter((e) => e.value !== undefined).map((e) => e.name),
    ['F1'],
  );
  t.match(noPod[0]?.unavailable, /no running pod/);
  const dependent = containerEnvironment(
    inputs({ name: 'app', env: [...(c.env ?? []), { name: 'URL', value: 'http://$(F11):8080' }] }),
  ).entries.find((e) => e.name === 'URL');
  t.match(dependent?.unavailable, /refers to \$\(F11\)/, 'a value built from an unavailable one is unavailable');
  t.throws(
    () =>
      containerEnvironment(
        inputs({ name: 'a', env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.schedulerName' } } }] }),
      ),
    { code: 'KVPN_ERR_WORKLOAD_UNSUPPORTED_REF' },
  );
});

t.test('resourceFieldRef: divisors, rounding up, defaults', async (t) => {
  const ref = (resource: string, divisor?: string, containerName?: string) => ({
    resourceFieldRef: { resource, ...(divisor ? { divisor } : {}), ...(containerName ? { containerName } : {}) },
  });
  const c: Container = {
    name: 'app',
    resources: { requests: { cpu: '250m', memory: '100Mi' }, limits: { cpu: '1500m', memory: '1Gi' } },
    env: [
      { name: 'CPU_REQ', valueFrom: ref('requests.cpu') },
      { name: 'CPU_REQ_M', valueFrom: ref('requests.cpu', '1m') },
      { name: 'CPU_LIM', valueFrom: ref('limits.cpu') },
      { name: 'MEM_REQ', valueFrom: ref('requests.memory') },
      { name: 'MEM_REQ_MI', valueFrom: ref('requests.memory', '1Mi') },
      { name: 'MEM_LIM_M', valueFrom: ref('limits.memory', '1M') },
      { name: 'MEM_LIM_GI', valueFrom: ref('limits.memory', '1Gi') },
      { name: 'EPH_REQ', valueFrom: ref('requests.ephemeral-storage') },
      { name: 'SIDE_MEM', valueFrom: ref('requests.memory', '1Ki', 'side') },
      { name: 'SIDE_CPU_LIM', valueFrom: ref('limits.cpu', '1m', 'side') },
      { name: 'EPH_LIM', valueFrom: ref('limits.ephemeral-storage', '1Mi') },
    ],
  };
  const side: Container = { name: 'side', resources: { limits: { memory: '1.5Ki', cpu: '0.1' } } };
  const i = inputs(c);
  i.facts = { namespace: 'shop', spec: { containers: [c, side] } };
  const env = envOf(i);
  t.equal(env.CPU_REQ, '1', '250m rounds up to 1 core');
  t.equal(env.CPU_REQ_M, '250');
  t.equal(env.CPU_LIM, '2', '1.5 rounds up');
  t.equal(env.MEM_REQ, String(100 * 1024 * 1024));
  t.equal(env.MEM_REQ_MI, '100');
  t.equal(env.MEM_LIM_M, '1074', '1Gi / 1M = 1073.74…, rounded up');
  t.equal(env.MEM_LIM_GI, '1');
  t.equal(env.EPH_REQ, '0', 'an unset request is 0');
  t.equal(env.SIDE_MEM, '2', 'an unset request defaults to the limit (1.5Ki = 1536 B → 2 KiB rounded up)');
  t.equal(env.SIDE_CPU_LIM, '100');
  t.equal(env.EPH_LIM, undefined, 'an unset limit without a readable node is unavailable');

  i.facts = {
    ...i.facts,
    node: {
      metadata: { name: 'n' },
      status: { allocatable: { cpu: '4', memory: '8Gi', 'ephemeral-storage': '20Gi' } },
    },
  };
  t.equal(envOf(i).EPH_LIM, String(20 * 1024), 'an unset limit is the node allocatable');
  i.facts = { ...i.facts, spec: { ...i.facts.spec, resources: { limits: { memory: '3Gi' } } } };
  const c2: Container = {
    name: 'app',
    env: [
      { name: 'M', valueFrom: ref('limits.memory', '1Gi') },
      { name: 'E', valueFrom: ref('limits.ephemeral-storage', '1Gi') },
    ],
  };
  const env2 = envOf({ ...i, container: c2 });
  t.equal(env2.M, '3', 'the pod-level limit comes before the node (cpu and memory)');
  t.equal(env2.E, '20', 'ephemeral-storage has no pod-level limit');
});

t.test('resourceFieldRef: huge pages (requests default to limits; no node default, unset is 0)', async (t) => {
  const ref = (resource: string, divisor?: string) => ({
    resourceFieldRef: { resource, ...(divisor ? { divisor } : {}) },
  });
  const c: Container = {
    name: 'app',
    resources: { limits: { 'hugepages-2Mi': '100Mi' } },
    env: [
      { name: 'HP_LIM', valueFrom: ref('limits.hugepages-2Mi') },
      { name: 'HP_REQ_MI', valueFrom: ref('requests.hugepages-2Mi', '1Mi') },
      { name: 'HP_LIM_3M', valueFrom: ref('limits.hugepages-2Mi', '3M') },
      { name: 'HP_1G_LIM', valueFrom: ref('limits.hugepages-1Gi') },
    ],
  };
  const i = inputs(c);
  i.facts = {
    namespace: 'shop',
    spec: { containers: [c] },
    node: { metadata: { name: 'n' }, status: { allocatable: { 'hugepages-1Gi': '4Gi' } } },
  };
  t.same(envOf(i), {
    ...envOf(inputs({ name: 'app' })),
    HP_LIM: String(100 * 1024 * 1024),
    HP_REQ_MI: '100',
    HP_LIM_3M: '35',
    HP_1G_LIM: '0',
  });
  t.throws(() => envOf(inputs({ name: 'a', env: [{ name: 'G', valueFrom: ref('limits.nvidia.com/gpu') }] })), {
    code: 'KVPN_ERR_WORKLOAD_UNSUPPORTED_REF',
    message: /not one the Downward API gives/,
  });
});

t.test('Service links: names, ports, protocols, which Services', async (t) => {
  const services = [
    KUBERNETES,
    svc('shop', 'my-db', '10.96.5.5', [
      { name: 'pg', port: 5432 },
      { name: 'metrics-http', port: 9187, protocol: 'TCP' },
      { port: 53, protocol: 'UDP' },
    ]),
    svc('shop', 'headless', 'None', [{ port: 80 }]),
    svc('shop', 'external', '', [{ port: 80 }]),
    svc('other', 'elsewhere', '10.96.9.9', [{ port: 80 }]),
    svc('shop', 'v6', 'fd00::1', [{ port: 80 }]),
  ];
  const env = envOf(inputs({ name: 'app' }, { services }));
  t.same(Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('MY_DB_'))), {
    MY_DB_SERVICE_HOST: '10.96.5.5',
    MY_DB_SERVICE_PORT: '5432',
    MY_DB_SERVICE_PORT_PG: '5432',
    MY_DB_SERVICE_PORT_METRICS_HTTP: '9187',
    MY_DB_PORT: 'tcp://10.96.5.5:5432',
    MY_DB_PORT_5432_TCP: 'tcp://10.96.5.5:5432',
    MY_DB_PORT_5432_TCP_PROTO: 'tcp',
    MY_DB_PORT_5432_TCP_PORT: '5432',
    MY_DB_PORT_5432_TCP_ADDR: '10.96.5.5',
    MY_DB_PORT_9187_TCP: 'tcp://10.96.5.5:9187',
    MY_DB_PORT_9187_TCP_PROTO: 'tcp',
    MY_DB_PORT_9187_TCP_PORT: '9187',
    MY_DB_PORT_9187_TCP_ADDR: '10.96.5.5',
    MY_DB_PORT_53_UDP: 'udp://10.96.5.5:53',
    MY_DB_PORT_53_UDP_PROTO: 'udp',
    MY_DB_PORT_53_UDP_PORT: '53',
    MY_DB_PORT_53_UDP_ADDR: '10.96.5.5',
  });
  t.equal(env.V6_PORT, 'tcp://[fd00::1]:80', 'IPv6 in brackets (net.JoinHostPort)');
  t.notOk(
    Object.keys(env).some((k) => k.startsWith('HEADLESS_') || k.startsWith('EXTERNAL_') || k.startsWith('ELSEWHERE_')),
  );
  t.equal(env.KUBERNETES_PORT, 'tcp://10.96.0.1:443');

  const off = inputs({ name: 'app' }, { services });
  off.facts = { ...off.facts, spec: { containers: [], enableServiceLinks: false } };
  t.same(
    Object.keys(envOf(off)),
    [
      'KUBERNETES_SERVICE_HOST',
      'KUBERNETES_SERVICE_PORT',
      'KUBERNETES_SERVICE_PORT_HTTPS',
      'KUBERNETES_PORT',
      'KUBERNETES_PORT_443_TCP',
      'KUBERNETES_PORT_443_TCP_PROTO',
      'KUBERNETES_PORT_443_TCP_PORT',
      'KUBERNETES_PORT_443_TCP_ADDR',
    ],
    'enableServiceLinks: false keeps only the kubernetes Service of default',
  );
  const own = inputs(
    { name: 'app' },
    { services: [KUBERNETES, svc('shop', 'kubernetes', '10.96.7.7', [{ port: 8443 }])] },
  );
  t.equal(envOf(own).KUBERNETES_SERVICE_HOST, '10.96.7.7', "a kubernetes Service of the pod's namespace wins");
});

t.test('Secret values: marked, and non-UTF-8 bytes kept', async (t) => {
  const raw = Buffer.from([0x66, 0xff, 0x00, 0x6f]);
  const i = inputs(
    { name: 'app', envFrom: [{ secretRef: { name: 'bin' } }], env: [{ name: 'T', value: 'x$(TOKEN)' }] },
    {
      secrets: new Map([
        ['bin', { metadata: { name: 'bin' }, data: { BIN: raw.toString('base64'), TOKEN: b64('t') } }],
      ]),
    },
  );
  const entries = containerEnvironment(i).entries;
  t.same(entries.find((e) => e.name === 'BIN')?.bytes, raw);
  t.ok(entries.find((e) => e.name === 'T')?.fromSecret, 'a value expanded from a Secret counts as Secret data');
});

t.test('a linked Service kvpn may not read: its main variables are unavailable, not left out', async (t) => {
  const i = inputs(
    { name: 'app', env: [{ name: 'KUBERNETES_PORT', value: 'mine' }] },
    { services: [], unreadableServices: ['kubernetes'] },
  );
  const entries = containerEnvironment(i).entries;
  t.same(
    entries.filter((e) => e.value === undefined).map((e) => e.name),
    ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT'],
  );
  t.equal(entries.find((e) => e.name === 'KUBERNETES_PORT')?.value, 'mine', 'a definition of its own stays');
});
