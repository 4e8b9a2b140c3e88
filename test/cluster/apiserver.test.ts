// The API server stand-in speaks the real wire format: discovery, Status
// errors with real reasons and messages, RBAC-like 403s, the invalid
// ClusterIP message kvpn reads the service CIDR from, watches with
// resourceVersion (and 410 after compaction), pod lifecycle and logs.
import { createInterface } from 'node:readline';
import t from 'tap';
import { PORT_FORWARD_UPGRADE_HEADERS } from '../helpers/websocket-upgrade.js';
import { type KObject, podIsReady } from './apiserver/objects.js';
import { startCluster } from './index.js';

const cluster = await startCluster();
t.teardown(() => cluster.stop());
/** For what the API server does, not who may: staging holds only docs/rbac.md's minimal Role. */
const admin = { context: 'admin' as const };

t.test('discovery documents', async (t) => {
  const api = (await cluster.request('GET', '/api')).json<{ kind: string; versions: string[] }>();
  t.equal(api.kind, 'APIVersions');
  t.same(api.versions, ['v1']);
  const v1 = (await cluster.request('GET', '/api/v1')).json<{
    resources: { name: string; namespaced: boolean; verbs: string[] }[];
  }>();
  const byName = new Map(v1.resources.map((r) => [r.name, r]));
  t.equal(byName.get('pods')?.namespaced, true);
  t.equal(byName.get('nodes')?.namespaced, false);
  t.same(byName.get('pods/portforward')?.verbs, ['create', 'get']);
  t.ok(byName.get('services')?.verbs.includes('watch'));
  const groups = (await cluster.request('GET', '/apis')).json<{ groups: { name: string }[] }>();
  for (const g of ['apps', 'discovery.k8s.io', 'networking.k8s.io', 'authorization.k8s.io']) {
    t.ok(
      groups.groups.some((x) => x.name === g),
      `group ${g}`,
    );
  }
  const version = (await cluster.request('GET', '/version', { context: 'admin' })).json<{ gitVersion: string }>();
  t.equal(version.gitVersion, 'v1.32.4');
});

t.test('ServiceCIDR API can be switched off, as on clusters that lack it', async (t) => {
  const list = await cluster.request('GET', '/apis/networking.k8s.io/v1/servicecidrs', { context: 'admin' });
  t.equal(list.status, 200);
  t.same(
    list.json<{ items: KObject[] }>().items.map((i) => i.spec.cidrs),
    [['10.96.0.0/12']],
  );
  await cluster.setServiceCidrApi(false);
  t.teardown(() => cluster.setServiceCidrApi(true));
  const gone = await cluster.request('GET', '/apis/networking.k8s.io/v1/servicecidrs', { context: 'admin' });
  t.equal(gone.status, 404);
  const disc = (await cluster.request('GET', '/apis/networking.k8s.io/v1')).json<{ resources: { name: string }[] }>();
  t.notOk(disc.resources.some((r) => r.name === 'servicecidrs'));
});

t.test('an invalid ClusterIP answers 422 with the real message', async (t) => {
  const res = await cluster.request('POST', '/api/v1/namespaces/default/services?dryRun=All', {
    context: 'admin',
    body: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'probe' },
      spec: { clusterIP: '1.1.1.1', ports: [{ port: 80 }] },
    },
  });
  t.equal(res.status, 422);
  const st = res.json<{ kind: string; reason: string; message: string; details: { causes: { field: string }[] } }>();
  t.equal(st.kind, 'Status');
  t.equal(st.reason, 'Invalid');
  t.equal(
    st.message,
    'Service "probe" is invalid: spec.clusterIPs: Invalid value: []string{"1.1.1.1"}: failed to allocate IP 1.1.1.1: the provided IP (1.1.1.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12',
  );
  t.equal(st.details.causes[0]?.field, 'spec.clusterIPs');
  const dry = await cluster.request('POST', '/api/v1/namespaces/default/services?dryRun=All', {
    context: 'admin',
    body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'probe' }, spec: { ports: [{ port: 80 }] } },
  });
  t.equal(dry.status, 201);
  t.equal(
    (await cluster.request('GET', '/api/v1/namespaces/default/services/probe', admin)).status,
    404,
    'dry run stored nothing',
  );
});

t.test('Status errors: 404, 409, conflict on stale resourceVersion, 401', async (t) => {
  const nf = await cluster.request('GET', '/api/v1/namespaces/default/pods/nope');
  t.equal(nf.status, 404);
  t.match(nf.json(), {
    kind: 'Status',
    reason: 'NotFound',
    message: 'pods "nope" not found',
    details: { name: 'nope', kind: 'pods' },
    code: 404,
  });
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dup' }, data: { a: '1' } };
  const first = await cluster.request('POST', '/api/v1/namespaces/default/configmaps', { ...admin, body: cm });
  t.equal(first.status, 201);
  const second = await cluster.request('POST', '/api/v1/namespaces/default/configmaps', { ...admin, body: cm });
  t.match(second.json(), { reason: 'AlreadyExists', message: 'configmaps "dup" already exists', code: 409 });
  const stale = { ...first.json(), data: { a: '2' } };
  t.equal(
    (await cluster.request('PUT', '/api/v1/namespaces/default/configmaps/dup', { ...admin, body: stale })).status,
    200,
  );
  const again = await cluster.request('PUT', '/api/v1/namespaces/default/configmaps/dup', { ...admin, body: stale });
  t.match(again.json(), { reason: 'Conflict', code: 409 });
  t.match(
    again.json<{ message: string }>().message,
    /^Operation cannot be fulfilled on configmaps "dup": the object has been modified/,
  );
  const patched = await cluster.request('PATCH', '/api/v1/namespaces/default/configmaps/dup', {
    ...admin,
    body: { data: { b: '3' } },
    headers: { 'Content-Type': 'application/merge-patch+json' },
  });
  t.same(patched.json<KObject>().data, { a: '2', b: '3' });
  const bad = await cluster.request('GET', '/api/v1/namespaces/default/pods', {
    headers: { Authorization: 'Bearer wrong' },
    context: 'admin',
  });
  t.match(bad.json(), { reason: 'Unauthorized', code: 401 });
});

t.test('the staging user stops at namespace default, like a Role', async (t) => {
  const other = await cluster.request('GET', '/api/v1/namespaces/shop/pods');
  t.equal(other.status, 403);
  t.equal(
    other.json<{ message: string }>().message,
    'pods is forbidden: User "staging" cannot list resource "pods" in API group "" in the namespace "shop"',
  );
  const nodes = await cluster.request('GET', '/api/v1/nodes');
  t.equal(
    nodes.json<{ message: string }>().message,
    'nodes is forbidden: User "staging" cannot list resource "nodes" in API group "" at the cluster scope',
  );
  const pf = await cluster.request('GET', '/api/v1/namespaces/shop/pods/x/portforward?ports=80');
  t.equal(
    pf.json<{ message: string }>().message,
    'pods "x" is forbidden: User "staging" cannot get resource "pods/portforward" in API group "" in the namespace "shop"',
  );
  t.equal((await cluster.request('GET', '/api/v1/namespaces/default/pods')).status, 200);
  const review = await cluster.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: {
        resourceAttributes: { namespace: 'default', verb: 'create', resource: 'pods', subresource: 'portforward' },
      },
    },
  });
  t.equal(review.json<KObject>().status.allowed, true);
  const calls = await cluster.execPluginCalls();
  const exec = await cluster.request('GET', '/api/v1/namespaces/default/pods', { context: 'staging-exec' });
  t.equal(exec.status, 200, 'the exec-plugin user lists pods in its namespace');
  t.ok((await cluster.execPluginCalls()) > calls, 'the plugin ran');
  t.equal((await cluster.request('GET', '/api/v1/namespaces/shop/pods', { context: 'staging-exec' })).status, 403);
  t.equal(
    (await cluster.request('GET', '/api/v1/namespaces/default/services', { context: 'staging-exec' })).status,
    403,
    "docs/rbac.md's minimal Role: no Services",
  );
  const nodesAdmin = await cluster.request('GET', '/api/v1/nodes', { context: 'admin' });
  t.same(
    nodesAdmin.json<{ items: KObject[] }>().items.map((n) => n.spec.podCIDRs),
    [['10.244.0.0/24'], ['10.244.1.0/24']],
    'admin (client certificate) sees nodes with podCIDRs',
  );
});

t.test('the no-portforward ServiceAccount has the kvpn Role of docs/rbac.md but pods/portforward', async (t) => {
  const as = { context: 'no-portforward' as const };
  const user = 'system:serviceaccount:default:no-portforward';
  t.equal((await cluster.request('GET', '/api/v1/namespaces/default/pods', as)).status, 200, 'list pods');
  const cm = await cluster.request('POST', '/api/v1/namespaces/default/configmaps?dryRun=All', {
    ...as,
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe' } },
  });
  t.equal(cm.status, 201, 'create configmaps');
  const readCm = await cluster.request('GET', '/api/v1/namespaces/default/configmaps', as);
  t.equal(
    readCm.json<{ message: string }>().message,
    `configmaps is forbidden: User "${user}" cannot list resource "configmaps" in API group "" in the namespace "default"`,
    'only the verbs of its rules',
  );
  t.equal((await cluster.request('GET', '/api/v1/namespaces/shop/pods', as)).status, 403, 'only its namespace');
  // The WebSocket upgrade kvpn makes is refused before the pod is even looked up.
  const [echo] = await cluster.pods({ app: 'echo' }, 'default');
  const name = echo?.metadata.name ?? '';
  const pf = await cluster.request('GET', `/api/v1/namespaces/default/pods/${name}/portforward?ports=8080`, {
    ...as,
    headers: PORT_FORWARD_UPGRADE_HEADERS,
  });
  t.equal(pf.status, 403);
  t.match(pf.json(), {
    kind: 'Status',
    status: 'Failure',
    reason: 'Forbidden',
    code: 403,
    details: { name, kind: 'pods' },
    message: `pods "${name}" is forbidden: User "${user}" cannot get resource "pods/portforward" in API group "" in the namespace "default"`,
  });
  const review = async (verb: string, resource: string, subresource = ''): Promise<boolean> =>
    (
      await cluster.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        ...as,
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: { namespace: 'default', verb, resource, subresource } },
        },
      })
    ).json<KObject>().status.allowed;
  t.equal(await review('create', 'pods'), true);
  t.equal(await review('create', 'pods', 'portforward'), false);
  t.equal(await review('get', 'pods', 'portforward'), false);
  const whoami = await cluster.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    ...as,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  t.same(whoami.json<KObject>().status.userInfo, {
    username: user,
    groups: ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'],
  });
});

async function* events(path: string): AsyncGenerator<{ type: string; object: KObject }> {
  const { response, close } = await cluster.stream(path, admin);
  try {
    for await (const line of createInterface({ input: response })) if (line) yield JSON.parse(line);
  } finally {
    close();
  }
}

t.test('watch resumes from a resourceVersion and reports 410 after compaction', async (t) => {
  const list = (await cluster.request('GET', '/api/v1/namespaces/default/configmaps', admin)).json<KObject>();
  const rv = list.metadata.resourceVersion;
  const it = events(
    `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}&fieldSelector=metadata.name%3Dwatched`,
  );
  const next = it.next();
  await cluster.request('POST', '/api/v1/namespaces/default/configmaps', {
    ...admin,
    body: { metadata: { name: 'watched' }, data: { v: '1' } },
  });
  await cluster.request('POST', '/api/v1/namespaces/default/configmaps', {
    ...admin,
    body: { metadata: { name: 'not-watched' } },
  });
  await cluster.request('PATCH', '/api/v1/namespaces/default/configmaps/watched', {
    ...admin,
    body: { data: { v: '2' } },
    headers: { 'Content-Type': 'application/strategic-merge-patch+json' },
  });
  await cluster.request('DELETE', '/api/v1/namespaces/default/configmaps/watched', admin);
  const seen: string[] = [];
  let e = await next;
  while (!e.done) {
    seen.push(`${e.value.type} ${e.value.object.kind} ${e.value.object.data?.v ?? ''}`);
    if (e.value.type === 'DELETED') break;
    e = await it.next();
  }
  await it.return(undefined);
  t.same(seen, ['ADDED ConfigMap 1', 'MODIFIED ConfigMap 2', 'DELETED ConfigMap 2']);

  await cluster.restartApiServer({ compact: true });
  const expired = events(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}`);
  const first = await expired.next();
  await expired.return(undefined);
  t.equal(first.value?.type, 'ERROR');
  t.match(first.value?.object, { kind: 'Status', reason: 'Expired', code: 410 });
});

t.test('an image the registry does not have: ErrImagePull, then ImagePullBackOff', async (t) => {
  const res = await cluster.request('POST', '/api/v1/namespaces/default/pods', {
    body: {
      metadata: { name: 'missing-image' },
      spec: { containers: [{ name: 'c', image: 'example.invalid/nope:1.0' }] },
    },
  });
  t.equal(res.status, 201);
  const reason = (p: KObject | null): string | undefined => p?.status?.containerStatuses?.[0]?.state?.waiting?.reason;
  const pulled = await cluster.waitForPod('missing-image', (p) => reason(p) === 'ErrImagePull');
  t.match(
    pulled?.status?.containerStatuses[0].state.waiting.message,
    /failed to pull and unpack image "example.invalid\/nope:1.0"/,
  );
  const backoff = await cluster.waitForPod('missing-image', (p) => reason(p) === 'ImagePullBackOff');
  t.equal(backoff?.status?.phase, 'Pending');
  t.match(backoff?.status?.podIP, /^10\.244\./, 'the sandbox exists, as on a real node');
  await cluster.deletePod('missing-image', 'default', 0);
});

t.test('a node:* pod gets ConfigMap and Secret volumes and env, and runs to Succeeded', async (t) => {
  await cluster.request('POST', '/api/v1/namespaces/default/configmaps', {
    body: {
      metadata: { name: 'job-script' },
      data: {
        'main.js':
          "const fs = require('fs'); console.log(process.env.GREETING, process.env.TOKEN, process.env.POD, fs.readFileSync('/etc/creds/token', 'utf8'), require('os').hostname());",
      },
    },
  });
  await cluster.request('POST', '/api/v1/namespaces/default/secrets', {
    body: { metadata: { name: 'job-secret' }, stringData: { token: 's3cret' } },
  });
  const pod = {
    metadata: { name: 'job' },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'main',
          image: 'node:22-alpine',
          command: ['node', '/scripts/main.js'],
          env: [
            { name: 'GREETING', value: 'hello' },
            { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'job-secret', key: 'token' } } },
            { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          ],
          volumeMounts: [
            { name: 'scripts', mountPath: '/scripts' },
            { name: 'creds', mountPath: '/etc/creds' },
          ],
        },
      ],
      volumes: [
        { name: 'scripts', configMap: { name: 'job-script' } },
        { name: 'creds', secret: { secretName: 'job-secret' } },
      ],
    },
  };
  const watch = events('/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Djob');
  const phases: string[] = [];
  const done = (async () => {
    for await (const e of watch) {
      const phase = e.object.status?.phase;
      if (phase && phases[phases.length - 1] !== phase) phases.push(phase);
      if (phase === 'Succeeded' || phase === 'Failed') break;
    }
  })();
  t.equal((await cluster.request('POST', '/api/v1/namespaces/default/pods', { body: pod })).status, 201);
  await done;
  t.same(
    phases.filter((p) => p !== 'Running'),
    ['Pending', 'Succeeded'],
    'Pending → (Running) → Succeeded',
  );
  const logs = await cluster.request('GET', '/api/v1/namespaces/default/pods/job/log', admin);
  t.equal(logs.body, 'hello s3cret job s3cret job\n');
  const status = (await cluster.object('pods', 'job'))?.status;
  t.match(status?.containerStatuses[0].state.terminated, { exitCode: 0, reason: 'Completed' });
});

t.test('a failing container: Failed with its exit code', async (t) => {
  await cluster.request('POST', '/api/v1/namespaces/default/pods', {
    body: {
      metadata: { name: 'fails' },
      spec: {
        restartPolicy: 'Never',
        containers: [{ name: 'c', image: 'node:22-alpine', command: ['node', '-e', 'process.exit(3)'] }],
      },
    },
  });
  const p = await cluster.waitForPod('fails', (x) => x?.status?.phase === 'Failed');
  t.match(p?.status?.containerStatuses[0].state.terminated, { exitCode: 3, reason: 'Error' });
});

t.test('killed and deleted pods: restart in place, or replacement by the Deployment', async (t) => {
  const [echo] = await cluster.pods({ app: 'echo' });
  const name = echo?.metadata.name ?? '';
  const ip = echo?.status?.podIP;
  await cluster.killPod(name);
  const restarted = await cluster.waitForPod(
    name,
    (p) => p?.status?.containerStatuses?.[0]?.restartCount === 1 && p.status.containerStatuses[0].ready,
  );
  t.equal(restarted?.status?.podIP, ip, 'same pod, same IP after a container restart');
  t.match(restarted?.status?.containerStatuses[0].lastState.terminated, { exitCode: 137, reason: 'Error' });
  await cluster.deletePod(name);
  await cluster.waitForPod(name, (p) => p === null);
  for (let i = 0; i < 200; i++) {
    const pods = await cluster.pods({ app: 'echo' });
    if (pods.length === 2 && pods.every((p) => p.metadata.name !== name && podIsReady(p))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const pods = await cluster.pods({ app: 'echo' });
  t.equal(pods.length, 2, 'the Deployment replaced it');
  t.notOk(pods.some((p) => p.metadata.name === name));
  const slices = await cluster.objects('discovery.k8s.io/endpointslices', 'default');
  const echoSlice = slices.find((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'echo');
  t.same(
    echoSlice?.endpoints.map((e: { addresses: string[] }) => e.addresses[0]).sort(),
    pods.map((p) => p.status?.podIP).sort(),
    'the EndpointSlice follows',
  );
});
