// `kvpn doctor` end to end against fakes: runChecks in order, the cluster
// checks skipped after a failed kubeconfig or API check, --deep only when
// the tunnel Role is there; runDoctor's lines, its JSON and its exit code.
import t from 'tap';
import { doctorExitCode, renderCheck, runDoctor } from '../../src/cli/doctor.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { memoryIo } from '../../src/cli/io.js';
import { type CheckResult, type DoctorProbes, KVPN_ROLES, runChecks } from '../../src/doctor/index.js';
import { type KubeClient, UnknownContextError } from '../../src/kube/client.js';
import { KubeUnreachableError } from '../../src/kube/errors.js';

interface Attrs {
  spec: { resourceAttributes: { verb: string; resource: string; subresource?: string } };
}

/** A fake cluster: /version, discovery, and access reviews allowing `rules`' resources. */
function fakeClient(opts: { unreachable?: boolean; allow: (verb: string, resource: string) => boolean }) {
  const trace: string[] = [];
  const client = {
    contextName: 'staging',
    clusterName: 'c',
    namespace: 'default',
    server: new URL('https://10.0.0.1:6443'),
    async request<T>(method: string, path: string, o: { body?: unknown } = {}): Promise<T> {
      trace.push(`${method} ${path}`);
      if (opts.unreachable) throw new KubeUnreachableError('https://10.0.0.1:6443', 'connect ECONNREFUSED');
      if (path === '/version') return { gitVersion: 'v1.34.1' } as T;
      if (path.endsWith('/selfsubjectaccessreviews')) {
        const a = (o.body as Attrs).spec.resourceAttributes;
        const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
        return { status: { allowed: opts.allow(a.verb, resource) } } as T;
      }
      if (path === '/apis/networking.k8s.io/v1/servicecidrs')
        return { items: [{ spec: { cidrs: ['10.96.0.0/12'] } }] } as T;
      if (path === '/api/v1/nodes') return { items: [{ spec: { podCIDRs: ['10.244.0.0/16'] } }] } as T;
      throw new Error(`unexpected ${method} ${path}`);
    },
    close() {
      trace.push('close');
    },
  };
  return { client: client as unknown as KubeClient, trace };
}

function probes(client: KubeClient | Error, relayTrace: string[] = []): DoctorProbes {
  return {
    nodeVersion: 'v20.19.1',
    engines: '>=20.19',
    platform: 'linux',
    loadTunAddon: async () => ({}),
    tun: { isCharDevice: async () => true, openReadWrite: async () => {}, netAdmin: true },
    dns: {
      detect: async () => 'resolvconf',
      resolvConfPath: '/etc/resolv.conf',
      readlink: async () => undefined,
      readFile: async () => 'nameserver 192.168.1.1\n',
      resolvectlWorks: async () => false,
      nameservers: () => ['192.168.1.1'],
    },
    loadClient: () => {
      if (client instanceof Error) throw client;
      return client;
    },
    routes: { listRoutes: async () => [], apiServerAddresses: async () => ['10.0.0.1'] },
    relay: {
      now: () => 0,
      sessionId: () => 'doctor-1',
      async deploy() {
        relayTrace.push('deploy');
        return {
          podName: 'kvpn-relay-doctor-1-a',
          port: 17071,
          namespace: 'default',
          image: 'node:22-alpine',
          sessionId: 'doctor-1',
          delete: async () => void relayTrace.push('remove'),
        };
      },
      portForward: async () => void relayTrace.push('port-forward'),
    },
  };
}

const ALL = () => true;
const NO_PORTFORWARD = (_verb: string, resource: string) => resource !== 'pods/portforward';
const base = { target: {}, root: true, sudo: undefined };

t.test('everything there: every check in order, the client closed', async (t) => {
  const { client, trace } = fakeClient({ allow: ALL });
  const results = await runChecks({ ...base, deep: false }, probes(client));
  t.same(
    results.map((r) => `${r.id} ${r.status}`),
    [
      'node ok',
      'tun-addon ok',
      'tun-device ok',
      'dns ok',
      'kubeconfig ok',
      'api ok',
      ...KVPN_ROLES.map((r) => (r.required ? 'rbac ok' : `rbac-${r.name.slice(5)} ok`)),
      'routes ok',
      'relay skip',
    ],
  );
  t.equal(trace.at(-1), 'close');
});

t.test('an unknown context: one failure, the cluster checks skipped', async (t) => {
  const results = await runChecks({ ...base, deep: true }, probes(new UnknownContextError('nope', ['staging'])));
  t.match(results[4], { id: 'kubeconfig', status: 'fail', detail: 'context "nope" is not in the kubeconfig' });
  t.same(new Set(results.slice(5).map((r) => r.status)), new Set(['skip']));
});

t.test('an unreachable API server: the checks needing it skipped, no relay started', async (t) => {
  const relay: string[] = [];
  const { client } = fakeClient({ unreachable: true, allow: ALL });
  const results = await runChecks({ ...base, deep: true }, probes(client, relay));
  t.match(results[5], { id: 'api', status: 'fail', code: 'KVPN_ERR_API_UNREACHABLE' });
  t.same(new Set(results.slice(6).map((r) => r.status)), new Set(['skip']));
  t.same(relay, []);
});

t.test('--deep: the relay started and removed; not started without the tunnel Role', async (t) => {
  const relay: string[] = [];
  const ok = await runChecks({ ...base, deep: true }, probes(fakeClient({ allow: ALL }).client, relay));
  t.match(ok.at(-1), { id: 'relay', status: 'ok' });
  t.same(relay, ['deploy', 'port-forward', 'remove']);
  relay.length = 0;
  const refused = await runChecks({ ...base, deep: true }, probes(fakeClient({ allow: NO_PORTFORWARD }).client, relay));
  t.match(refused.at(-1), { id: 'relay', status: 'skip', detail: /kvpn Role is missing rights/ });
  t.same(relay, []);
});

const sample: CheckResult[] = [
  { id: 'node', title: 'Node.js ≥ 20.19', status: 'ok', detail: 'v20.19.1' },
  {
    id: 'rbac',
    title: 'RBAC: Role kvpn (kvpn up)',
    status: 'fail',
    category: 'user',
    detail: 'missing "get", "create" on "pods/portforward" in namespace "default"',
    fix: 'Ask a cluster admin to bind the kvpn Role.',
  },
  {
    id: 'rbac-mount',
    title: 'RBAC: Role kvpn-mount (kvpn mount)',
    status: 'warn',
    detail: 'kvpn mount: …',
    fix: 'Bind it.',
  },
  { id: 'relay', title: 'relay image pull', status: 'skip', detail: 'needs --deep' },
];

t.test('lines: a mark, the title and what was found; the fix under failures and warnings', async (t) => {
  t.equal(
    sample.map(renderCheck).join(''),
    [
      '  ✓ Node.js ≥ 20.19: v20.19.1',
      '  ✗ RBAC: Role kvpn (kvpn up): missing "get", "create" on "pods/portforward" in namespace "default"',
      '      fix: Ask a cluster admin to bind the kvpn Role.',
      '  ! RBAC: Role kvpn-mount (kvpn mount): kvpn mount: …',
      '      fix: Bind it.',
      '  - relay image pull: needs --deep',
      '',
    ].join('\n'),
  );
});

t.test('exit code: 0 with warnings only; else by the first failure', async (t) => {
  t.equal(doctorExitCode([sample[0] as CheckResult, sample[2] as CheckResult]), EXIT.OK);
  t.equal(doctorExitCode(sample), EXIT.CONFIG, 'RBAC is the user’s move');
  t.equal(doctorExitCode([{ ...(sample[1] as CheckResult), category: 'system' }]), EXIT.SYSTEM);
  t.equal(doctorExitCode([{ ...(sample[1] as CheckResult), category: 'cluster' }]), EXIT.CLUSTER);
});

t.test('runDoctor: printed as results arrive, a verdict, the exit code', async (t) => {
  const io = memoryIo({ PATH: '' });
  const code = await runDoctor({ json: false, deep: false, context: 'staging' }, io, async (o) => {
    t.same(o.target, { context: 'staging' });
    for (const r of sample) o.onResult?.(r);
    return sample;
  });
  t.equal(code, EXIT.CONFIG);
  t.match(io.stdout, /^kvpn doctor: what `kvpn up` needs, checked without changing anything\n {2}✓ Node/);
  t.match(io.stdout, /kvpn up would fail: 1 problem \(✗\) to fix; 1 optional feature missing \(!\)\.\n$/);
});

t.test('runDoctor --json: {checks, ok}, nothing else on stdout', async (t) => {
  const io = memoryIo({ PATH: '' });
  const code = await runDoctor({ json: true, deep: false }, io, async (o) => {
    t.equal(o.onResult, undefined, 'no lines in JSON mode');
    return [sample[0] as CheckResult, sample[2] as CheckResult];
  });
  t.equal(code, EXIT.OK);
  const doc = JSON.parse(io.stdout) as { checks: CheckResult[]; ok: boolean };
  t.equal(doc.ok, true);
  t.same(
    doc.checks.map((c) => c.id),
    ['node', 'rbac-mount'],
  );
});
