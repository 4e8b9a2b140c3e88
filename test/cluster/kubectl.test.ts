// The real kubectl (1.32) against the stand-in, with the world's
// kubeconfig, from the laptop namespace: get with server-side tables,
// apply (create, then patch), wait, logs, delete, auth, and the messages a
// namespace-scoped user gets.
import t from 'tap';
import { type ContextName, startCluster } from './index.js';

const cluster = await startCluster();
t.teardown(() => cluster.stop());

const MANIFEST = `apiVersion: v1
kind: ConfigMap
metadata:
  name: hello-app
data:
  main.js: |
    const http = require('http');
    console.log('hello from', process.env.HOSTNAME, 'message', process.env.MSG);
    http.createServer((req, res) => res.end(process.env.MSG + '\\n')).listen(8080);
  message: kubectl was here
---
apiVersion: v1
kind: Pod
metadata:
  name: hello
  labels:
    app: hello
spec:
  containers:
  - name: main
    image: node:22-alpine
    command: ["node", "/app/main.js"]
    env:
    - name: MSG
      valueFrom:
        configMapKeyRef: {name: hello-app, key: message}
    ports:
    - {name: http, containerPort: 8080}
    readinessProbe:
      httpGet: {path: /, port: http}
      periodSeconds: 1
    volumeMounts:
    - {name: app, mountPath: /app, readOnly: true}
  volumes:
  - name: app
    configMap: {name: hello-app}
`;

async function kubectl(args: string[], opts: { context?: ContextName; input?: string } = {}): Promise<string> {
  const r = await cluster.kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** For what kubectl does against the world, not who may: staging holds only docs/rbac.md's minimal Role. */
const admin = { context: 'admin' as const };

function rows(table: string): string[][] {
  return table
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/));
}

t.test('get pods,svc,endpointslices -A prints the server-side tables', async (t) => {
  const out = await kubectl(['get', 'pods,svc,endpointslices', '-A'], { context: 'admin' });
  const lines = out.split('\n');
  t.match(lines[0], /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
  for (const p of await cluster.objects('pods')) {
    t.match(
      out,
      new RegExp(`${p.metadata.namespace}\\s+pod/${p.metadata.name}\\s+1/1\\s+Running\\s+0\\s+`),
      `pod ${p.metadata.name}`,
    );
  }
  const echoIp = await cluster.serviceIp('echo');
  t.match(
    out,
    new RegExp(`default\\s+service/echo\\s+ClusterIP\\s+${echoIp.replace(/\./g, '\\.')}\\s+<none>\\s+80/TCP,7/TCP`),
  );
  t.match(out, /default\s+service\/ext\s+ExternalName\s+<none>\s+echo\.default\.svc\.cluster\.local\s+<none>/);
  t.match(out, /default\s+service\/peers\s+ClusterIP\s+None\s+<none>\s+8080\/TCP/);
  t.match(out, /kube-system\s+service\/kube-dns\s+ClusterIP\s+10\.96\.0\.10\s+<none>\s+53\/UDP,53\/TCP,9153\/TCP/);
  t.match(out, /NAMESPACE\s+NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE/);
  t.match(
    out,
    /default\s+endpointslice\.discovery\.k8s\.io\/echo-\w{5}\s+IPv4\s+8080,9007\s+10\.244\.\d\.\d+,10\.244\.\d\.\d+/,
  );
  const wide = rows(await kubectl(['get', 'nodes', '-o', 'wide'], { context: 'admin' }));
  t.same(wide[0]?.slice(0, 6), ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', 'INTERNAL-IP']);
  t.same(
    wide.slice(1).map((r) => [r[1], r[4], r[5]]),
    [
      ['Ready', 'v1.32.4', '172.18.0.2'],
      ['Ready', 'v1.32.4', '172.18.0.3'],
    ],
  );
  const json = JSON.parse(
    await kubectl(['get', 'svc', 'kube-dns', '-n', 'kube-system', '-o', 'json'], { context: 'admin' }),
  );
  t.equal(json.spec.clusterIP, '10.96.0.10');
});

t.test('apply -f (Pod + ConfigMap), wait, logs, re-apply, delete', async (t) => {
  const applied = await kubectl(['apply', '-f', '-'], { ...admin, input: MANIFEST });
  t.equal(applied, 'configmap/hello-app created\npod/hello created\n');
  t.equal(
    await kubectl(['wait', '--for=condition=Ready', 'pod/hello', '--timeout=30s'], admin),
    'pod/hello condition met\n',
  );
  const logs = await kubectl(['logs', 'hello'], admin);
  t.equal(logs, 'hello from hello message kubectl was here\n');
  const got = rows(await kubectl(['get', 'pod', 'hello'], admin));
  t.same(got[1]?.slice(0, 4), ['hello', '1/1', 'Running', '0']);
  const podIp = await cluster.podIp('hello');
  const direct = await cluster.execInPod('hello', 'default', 'curl', ['-sS', `http://${podIp}:8080/`]);
  t.equal(direct.stdout, 'kubectl was here\n', 'the pod serves what the ConfigMap said');
  const again = await kubectl(['apply', '-f', '-'], {
    ...admin,
    input: MANIFEST.replace('app: hello\n', 'app: hello\n    tier: demo\n'),
  });
  t.equal(again, 'configmap/hello-app unchanged\npod/hello configured\n');
  t.equal(
    (await cluster.object('pods', 'hello'))?.metadata.labels?.tier,
    'demo',
    'client-side apply patched the label',
  );
  const deleted = await kubectl(['delete', '-f', '-'], { ...admin, input: MANIFEST });
  t.equal(deleted, 'configmap "hello-app" deleted\npod "hello" deleted\n');
  t.equal(await cluster.object('pods', 'hello'), null, 'kubectl delete waited until the pod was gone');
});

t.test('the staging context is confined to its namespace', async (t) => {
  const nodes = await cluster.kubectl(['get', 'nodes']);
  t.not(nodes.code, 0);
  t.equal(
    nodes.stderr.trim(),
    'Error from server (Forbidden): nodes is forbidden: User "staging" cannot list resource "nodes" in API group "" at the cluster scope',
  );
  const shop = await cluster.kubectl(['get', 'pods', '-n', 'shop']);
  t.equal(
    shop.stderr.trim(),
    'Error from server (Forbidden): pods is forbidden: User "staging" cannot list resource "pods" in API group "" in the namespace "shop"',
  );
  t.equal(await kubectl(['auth', 'can-i', 'create', 'pods/portforward']), 'yes\n');
  const cannot = await cluster.kubectl(['auth', 'can-i', 'list', 'pods', '-n', 'shop']);
  t.equal(cannot.stdout, 'no\n');
  t.match(await kubectl(['auth', 'whoami', '-o', 'json']), /"username": "staging"/);
  const viaExec = rows(await kubectl(['get', 'pods'], { context: 'staging-exec' }));
  t.same(viaExec[0], ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'], 'exec credential plugin context works');
  t.equal(
    (await cluster.kubectl(['auth', 'can-i', 'list', 'services'], { context: 'staging-exec' })).stdout,
    'no\n',
    "docs/rbac.md's minimal Role: no Services",
  );
});

t.test('the no-portforward context: can-i sees the kvpn Role without pods/portforward', async (t) => {
  const can = (args: string[]) => cluster.kubectl(['auth', 'can-i', ...args], { context: 'no-portforward' });
  // `pods/portforward` would read as TYPE/NAME (pod "portforward"); the subresource is a flag.
  t.equal((await can(['create', 'pods', '--subresource=portforward'])).stdout, 'no\n');
  t.equal((await can(['create', 'pods'])).stdout, 'yes\n');
  t.equal((await can(['get', 'configmaps'])).stdout, 'no\n', 'configmaps are created and deleted, never read');
  const list = rows(await kubectl(['auth', 'can-i', '--list'], { context: 'no-portforward' }));
  t.same(
    list.find((r) => r[0] === 'pods'),
    ['pods', '[]', '[]', '[create get list watch delete]'],
  );
  t.notOk(
    list.some((r) => r[0]?.startsWith('pods/')),
    'no rule names a pods subresource',
  );
  t.match(
    await kubectl(['auth', 'whoami'], { context: 'no-portforward' }),
    'system:serviceaccount:default:no-portforward',
  );
});

t.test('an unknown image shows ErrImagePull / ImagePullBackOff in kubectl', async (t) => {
  await kubectl(['run', 'broken', '--image=registry.example.invalid/nothing:1', '--restart=Never'], admin);
  let status = '';
  for (let i = 0; i < 100 && status !== 'ImagePullBackOff'; i++) {
    status = rows(await kubectl(['get', 'pod', 'broken'], admin))[1]?.[2] ?? '';
    if (status !== 'ImagePullBackOff') await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(status, 'ImagePullBackOff');
  const described = await kubectl(['describe', 'pod', 'broken'], admin);
  t.match(described, /Failed to pull image "registry\.example\.invalid\/nothing:1"/);
  t.match(described, /Back-off pulling image/);
  await kubectl(['delete', 'pod', 'broken', '--grace-period=0', '--force'], admin).catch(() => '');
});

t.test('logs -f follows a container to its end; get -w decodes table watch events', async (t) => {
  await kubectl(
    [
      'run',
      'counter',
      '--image=node:22-alpine',
      '--restart=Never',
      '--',
      'node',
      '-e',
      "console.log('one'); setTimeout(() => console.log('two'), 300)",
    ],
    admin,
  );
  await cluster.waitForPod('counter', (p) => p?.status?.phase === 'Running' || p?.status?.phase === 'Succeeded');
  t.equal(await kubectl(['logs', '-f', 'counter'], admin), 'one\ntwo\n');
  await cluster.waitForPod('counter', (p) => p?.status?.phase === 'Succeeded');
  const watched = await cluster.kubectl(['get', 'pod', 'counter', '-w'], { ...admin, timeoutMs: 1500 });
  t.equal(watched.stderr, '', 'no decoding error');
  t.match(watched.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\ncounter\s+0\/1\s+Completed\s+0\s+\d+s\n/);
});
