// The cluster side, against fakes: a kubeconfig on disk, an API that
// answers /version and CIDR discovery (ServiceCIDRs, nodes), a route table
// of this machine, and a relay probe that records every pod it starts and
// removes. Each reads as the trace of what doctor would do.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { checkApi, checkKubeconfig, checkRelay, checkRoutes, type RelayProbe } from '../../src/doctor/cluster.js';
import type { KubeClient } from '../../src/kube/client.js';
import { KubeApiError, KubeUnreachableError } from '../../src/kube/errors.js';
import { RelayError } from '../../src/relay/deploy.js';
import type { RouteEntry } from '../../src/tun/routes.js';
import { writeKubeconfig } from '../helpers/kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'kvpn-doctor-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const kubeconfig = writeKubeconfig(join(dir, 'config'), {
  server: 'https://10.0.0.1:6443',
  user: { token: 't' },
  contexts: [{ name: 'staging', namespace: 'shop' }, { name: 'prod' }],
  current: 'staging',
});

t.test('kubeconfig: the context and namespace, or one line saying what is wrong', async (t) => {
  const loaded = checkKubeconfig({ kubeconfig });
  t.match(loaded.result, {
    status: 'ok',
    detail: 'context staging, cluster c, namespace shop, server https://10.0.0.1:6443',
  });
  loaded.client?.close();
  t.match(checkKubeconfig({ kubeconfig, context: 'stagin' }).result, {
    status: 'fail',
    code: 'KVPN_ERR_UNKNOWN_CONTEXT',
    category: 'user',
    detail: 'context "stagin" is not in the kubeconfig',
    fix: 'Pick one of: staging, prod (did you mean "staging"?).',
  });
  t.match(checkKubeconfig({ kubeconfig: join(dir, 'missing') }).result, {
    status: 'fail',
    code: 'KVPN_ERR_KUBECONFIG',
    category: 'config',
    detail: /^no kubeconfig found/,
  });
  t.notOk(checkKubeconfig({ kubeconfig: join(dir, 'missing') }).client);
});

/** A KubeClient that answers GETs from `answers` (path → body, or an error to throw). */
function fakeClient(answers: Record<string, unknown>, server = 'https://10.0.0.1:6443') {
  const trace: string[] = [];
  const client = {
    namespace: 'default',
    server: new URL(server),
    async request<T>(method: string, path: string): Promise<T> {
      trace.push(`${method} ${path}`);
      const answer = answers[`${method} ${path}`];
      if (answer instanceof Error) throw answer;
      if (answer === undefined)
        throw new KubeApiError(method, path, 403, { message: 'forbidden', reason: 'Forbidden' });
      return answer as T;
    },
    close() {},
  };
  return { client: client as unknown as KubeClient, trace };
}

t.test('API server: its version, or why it does not answer', async (t) => {
  let clock = 1000;
  const now = () => (clock += 21);
  const { client } = fakeClient({ 'GET /version': { gitVersion: 'v1.34.1' } });
  t.match(await checkApi(client, now), {
    status: 'ok',
    detail: 'https://10.0.0.1:6443 answers: Kubernetes v1.34.1 in 21 ms',
  });
  const down = fakeClient({
    'GET /version': new KubeUnreachableError('https://127.0.0.1:1', new Error('connect ECONNREFUSED 127.0.0.1:1')),
  });
  t.match(await checkApi(down.client), {
    status: 'fail',
    code: 'KVPN_ERR_API_UNREACHABLE',
    category: 'cluster',
    detail: 'cannot reach the Kubernetes API at https://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1',
    fix: /kubectl get ns/,
  });
});

const DISCOVERY = {
  'GET /apis/networking.k8s.io/v1/servicecidrs': { items: [{ spec: { cidrs: ['10.96.0.0/12'] } }] },
  'GET /api/v1/nodes': {
    items: [{ spec: { podCIDRs: ['10.244.0.0/24'] } }, { spec: { podCIDRs: ['10.244.1.0/24'] } }],
  },
};

function machine(routes: RouteEntry[], apiServer: string[] = ['10.0.0.1']) {
  return { listRoutes: async () => routes, apiServerAddresses: async () => apiServer };
}

const HOME_ROUTES: RouteEntry[] = [
  { destination: '0.0.0.0/0', device: 'wlan0', family: 4, gateway: '192.168.1.1' },
  { destination: '192.168.1.0/24', device: 'wlan0', family: 4 },
];

t.test('routes: the ranges up would route, none overlapping this machine', async (t) => {
  const { client, trace } = fakeClient(DISCOVERY);
  t.match(await checkRoutes(client, machine(HOME_ROUTES)), {
    status: 'ok',
    detail:
      "services 10.96.0.0/12 (servicecidr-api), pods 10.244.0.0/23 (node-podcidrs): no overlap with this machine's 2 routes",
  });
  t.same(trace, ['GET /apis/networking.k8s.io/v1/servicecidrs', 'GET /api/v1/nodes'], 'reads only');
});

t.test('routes: a docker bridge inside the Service range is a conflict naming the interface', async (t) => {
  const { client } = fakeClient(DISCOVERY);
  const routes = [...HOME_ROUTES, { destination: '10.100.0.0/16', device: 'br-1f2e', family: 4 as const }];
  t.match(await checkRoutes(client, machine(routes)), {
    status: 'fail',
    code: 'KVPN_ERR_ROUTE_CONFLICT',
    category: 'system',
    detail: '10.96.0.0/12 overlaps 10.100.0.0/16 dev br-1f2e',
    fix: 'Exclude it with --never-proxy 10.96.0.0/12, or route it into the cluster anyway with --allow-conflicting.',
  });
});

t.test('routes: the API server inside a cluster range is carved out, not a conflict', async (t) => {
  const { client } = fakeClient(DISCOVERY);
  const routes = [...HOME_ROUTES, { destination: '10.96.0.1/32', device: 'eth0', family: 4 as const }];
  t.match(await checkRoutes(client, machine(routes, ['10.96.0.1'])), { status: 'ok' });
});

t.test('routes: the tunnel Role alone gets no Service range from the API; that is said, not failed', async (t) => {
  const { client, trace } = fakeClient({
    'GET /api/v1/namespaces/default/pods': { items: [{ metadata: { name: 'a' }, status: { podIP: '10.244.3.4' } }] },
  });
  const result = await checkRoutes(client, machine(HOME_ROUTES));
  t.match(result, {
    status: 'ok',
    detail:
      /^services none yet \(none\), pods 10\.244\.0\.0\/16 \(pod-ips\): no overlap .*found through the relay at start/,
  });
  t.ok(trace.includes('POST /api/v1/namespaces/default/services'), 'the dry-run probe, as up does it');
});

t.test('routes: an unreachable API or no `ip` is a failure', async (t) => {
  const down = fakeClient({
    'GET /apis/networking.k8s.io/v1/servicecidrs': new KubeUnreachableError('https://10.0.0.1:6443', 'timed out'),
    'GET /api/v1/nodes': new KubeUnreachableError('https://10.0.0.1:6443', 'timed out'),
  });
  t.match(await checkRoutes(down.client, machine([])), { status: 'fail', code: 'KVPN_ERR_API_UNREACHABLE' });
  const { client } = fakeClient(DISCOVERY);
  const noIp = {
    listRoutes: async (): Promise<RouteEntry[]> => {
      throw new Error('spawn ip ENOENT');
    },
    apiServerAddresses: async () => [],
  };
  t.match(await checkRoutes(client, noIp), { status: 'fail', category: 'system', detail: 'spawn ip ENOENT' });
});

/** A relay probe recording what it does; `fail` names the step that throws. */
function relayProbe(fail: { deploy?: Error; portForward?: Error; remove?: Error } = {}) {
  const trace: string[] = [];
  let clock = 0;
  const probe: RelayProbe = {
    now: () => (clock += 1500),
    sessionId: () => 'doctor-1234abcd',
    async deploy(_client, sessionId) {
      trace.push(`deploy ${sessionId}`);
      if (fail.deploy) throw fail.deploy;
      return {
        podName: `kvpn-relay-${sessionId}-x1`,
        port: 17071,
        namespace: 'default',
        image: 'node:22-alpine',
        sessionId,
        async delete() {
          trace.push(`remove ${sessionId}`);
          if (fail.remove) throw fail.remove;
        },
      };
    },
    async portForward(_client, namespace, pod, port) {
      trace.push(`port-forward ${namespace}/${pod}:${port}`);
      if (fail.portForward) throw fail.portForward;
    },
  };
  return { probe, trace };
}

t.test('--deep: one relay pod, one port-forward, removed', async (t) => {
  const { client } = fakeClient({});
  const { probe, trace } = relayProbe();
  t.match(await checkRelay(client, probe), {
    status: 'ok',
    detail:
      'pod kvpn-relay-doctor-1234abcd-x1 (node:22-alpine) Ready in 1.5 s, port-forward opened in 1500 ms; removed',
  });
  t.same(trace, [
    'deploy doctor-1234abcd',
    'port-forward default/kvpn-relay-doctor-1234abcd-x1:17071',
    'remove doctor-1234abcd',
  ]);
});

t.test('--deep: a port-forward refused still removes the pod', async (t) => {
  const { client } = fakeClient({});
  const refused = new KubeApiError('PORTFORWARD', '/api/v1/namespaces/default/pods/p/portforward', 403, {
    message: 'pods "p" is forbidden: cannot get resource "pods/portforward"',
  });
  const { probe, trace } = relayProbe({ portForward: refused });
  t.match(await checkRelay(client, probe), { status: 'fail', code: 'KVPN_ERR_API_FORBIDDEN' });
  t.equal(trace.at(-1), 'remove doctor-1234abcd');
});

t.test('--deep: an image the cluster cannot pull (deployRelay removed its own objects)', async (t) => {
  const { client } = fakeClient({});
  const { probe, trace } = relayProbe({
    deploy: new RelayError('KVPN_ERR_RELAY_IMAGE', 'the cluster cannot pull node:22-alpine: ErrImagePull', {
      remedy: 'Pass --relay-image with a node image your cluster can pull.',
    }),
  });
  t.match(await checkRelay(client, probe), {
    status: 'fail',
    code: 'KVPN_ERR_RELAY_IMAGE',
    category: 'cluster',
    fix: /--relay-image/,
  });
  t.same(trace, ['deploy doctor-1234abcd']);
});

t.test('--deep: a relay that cannot be removed is said, with the command that removes it', async (t) => {
  const { client } = fakeClient({});
  const { probe } = relayProbe({ remove: new Error('socket hang up') });
  t.match(await checkRelay(client, probe), {
    status: 'warn',
    detail: /Ready in 1\.5 s, port-forward opened in 1500 ms; removing it failed: socket hang up$/,
    fix: 'Delete it by hand: kubectl -n default delete pod/kvpn-relay-doctor-1234abcd-x1 configmap/kvpn-relay-doctor-1234abcd secret/kvpn-relay-doctor-1234abcd',
  });
});
