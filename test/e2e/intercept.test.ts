// `kvpn intercept` on the real Kubernetes world, from a client pod inside the
// cluster: a whole intercept of echo's port 80 reaches the laptop, and after
// `leave` the pods again with the Service byte-identical to before; then two
// laptops (two sessions) intercept it at once for x-dev=alice and x-dev=bob
// over one HTTP/1.1 keep-alive connection; one laptop's daemon killed -9
// sends its requests back to the pods within seconds, its `down` and the
// other's leave nothing behind.
import { once } from 'node:events';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import { type Cluster, type Laptop, startCluster } from '../cluster/index.js';
import { realWorld } from '../cluster/worlds.js';
import { noInterceptObjects } from './helpers/intercept-objects.js';
import { daemonPid, type Kvpn, kvpnIn } from './helpers/kvpn.js';

/** h2c server answering every stream with WHO and gRPC-style trailers (grpc-status 0). */
const H2C_SERVER = (who: string, port: number | string, host: string): string => `
  require('node:http2').createServer().on('stream', (stream) => {
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(${who} + '\\n');
  }).listen(${port}, ${JSON.stringify(host)}, () => console.log('listening'));`;

/** An h2c workload of the test's own: its pods answer with their name (HOSTNAME). */
const H2ECHO = {
  apiVersion: 'v1',
  kind: 'List',
  items: [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'h2echo-app', namespace: 'default' },
      data: { 'h2echo.js': H2C_SERVER('process.env.HOSTNAME', 8080, '0.0.0.0') },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'h2echo', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'h2echo' } },
        template: {
          metadata: { labels: { app: 'h2echo' } },
          spec: {
            containers: [
              {
                name: 'h2echo',
                image: 'node:22-alpine',
                command: ['node', '/app/h2echo.js'],
                ports: [{ name: 'h2c', containerPort: 8080 }],
                volumeMounts: [{ name: 'app', mountPath: '/app' }],
              },
            ],
            volumes: [{ name: 'app', configMap: { name: 'h2echo-app' } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'h2echo', namespace: 'default' },
      spec: { selector: { app: 'h2echo' }, ports: [{ name: 'h2c', port: 80, targetPort: 'h2c' }] },
    },
  ],
};

/** From an echo pod: one h2c connection to h2echo:80, a stream per entry of `plan` (x-dev or none), all at once. */
async function h2InCluster(cluster: Cluster, plan: (string | null)[]): Promise<{ who: string; status?: string }[]> {
  const pod = (await cluster.pods({ app: 'echo' }, 'default'))[0]?.metadata.name as string;
  const script = `const session = require('node:http2').connect('http://h2echo.default.svc.cluster.local:80');
    session.on('error', (e) => { console.error(String(e)); process.exit(1); });
    Promise.all(JSON.parse(process.argv[1]).map((dev) => new Promise((resolve, reject) => {
      const req = session.request({ ':path': '/echo.Echo/Say', 'content-type': 'application/grpc', ...(dev ? { 'x-dev': dev } : {}) });
      let who = '', status; req.setEncoding('utf8');
      req.on('data', (d) => { who += d; }); req.on('trailers', (t) => { status = t['grpc-status']; });
      req.on('end', () => resolve({ who: who.trim(), status })); req.on('error', reject); req.end();
    }))).then((out) => { console.log(JSON.stringify(out)); session.close(); },
      (e) => { console.error(String(e)); process.exit(1); });`;
  const r = await cluster.kubectl(['exec', '-n', 'default', pod, '--', 'node', '-e', script, JSON.stringify(plan)], {
    context: 'admin',
  });
  if (r.code !== 0) return [{ who: `error: ${r.stderr.trim()}` }];
  return JSON.parse(r.stdout) as { who: string; status?: string }[];
}

/** An HTTP/1.1 (or h2c) server on the laptop's 127.0.0.1:port answering every request with `who`. */
async function laptopServer(
  t: Test,
  laptop: Laptop,
  port: number,
  who: string,
  kind: 'http' | 'h2c' = 'http',
): Promise<void> {
  const script =
    kind === 'h2c'
      ? H2C_SERVER(JSON.stringify(who), port, '127.0.0.1')
      : `require('node:http').createServer((req, res) => {
      req.resume(); res.writeHead(200, { 'content-type': 'text/plain' }); res.end(${JSON.stringify(`${who}\n`)});
    }).listen(${port}, '127.0.0.1', () => console.log('listening'));`;
  const child = laptop.spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill());
  await once(child.stdout as NodeJS.ReadableStream, 'data');
}

/**
 * From inside an echo pod: GET http://echo.default.svc.cluster.local/ once per entry of
 * `plan` (the x-dev header, or null for none), in order, over ONE keep-alive connection.
 * Returns who answered each (a laptop's name or a pod's) and how many connections it took.
 */
async function requestsInCluster(
  cluster: Cluster,
  plan: (string | null)[],
): Promise<{ who: string[]; connections: number }> {
  const pod = (await cluster.pods({ app: 'echo' }, 'default'))[0]?.metadata.name as string;
  const script = `const http = require('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set(); const who = [];
    const get = (dev) => new Promise((resolve, reject) => {
      const req = http.get({ host: 'echo.default.svc.cluster.local', port: 80, path: '/', agent,
        headers: dev ? { 'x-dev': dev } : {} }, (res) => {
        sockets.add(res.socket); let body = ''; res.setEncoding('utf8');
        res.on('data', (d) => { body += d; }); res.on('end', () => resolve(body.trim()));
      });
      req.on('error', reject); req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    });
    (async () => { for (const dev of JSON.parse(process.argv[1])) who.push(await get(dev));
      console.log(JSON.stringify({ who, connections: sockets.size })); agent.destroy(); })()
      .catch((e) => { console.error(String(e)); process.exit(1); });`;
  const r = await cluster.kubectl(['exec', '-n', 'default', pod, '--', 'node', '-e', script, JSON.stringify(plan)], {
    context: 'admin',
  });
  if (r.code !== 0) return { who: [`error: ${r.stderr.trim()}`], connections: 0 };
  return JSON.parse(r.stdout) as { who: string[]; connections: number };
}

/** Repeats `plan` until every answer satisfies `ok` (kube-proxy reprograms within seconds); the elapsed ms. */
async function until(
  cluster: Cluster,
  plan: (string | null)[],
  ok: (who: string[]) => boolean,
  limitMs = 15_000,
): Promise<{ who: string[]; connections: number; ms: number }> {
  const start = Date.now();
  for (;;) {
    const r = await requestsInCluster(cluster, plan);
    if (ok(r.who) || Date.now() - start > limitMs) return { ...r, ms: Date.now() - start };
  }
}

/** The Service as the API server returns it, minus what changes on every write. */
async function serviceJson(cluster: Cluster): Promise<string> {
  const r = await cluster.kubectl(['get', 'service', 'echo', '-n', 'default', '-o', 'json'], { context: 'admin' });
  const svc = JSON.parse(r.stdout);
  delete svc.metadata.resourceVersion;
  delete svc.metadata.managedFields;
  return JSON.stringify(svc, null, 2);
}

/**
 * From an echo pod: a request without header every 20 ms while the echo router pod is deleted;
 * the time from the first failed request to the last (0 if none failed).
 */
async function measureRouterOutage(cluster: Cluster): Promise<{ windowMs: number; recovered: boolean }> {
  const pod = (await cluster.pods({ app: 'echo' }, 'default'))[0]?.metadata.name as string;
  const router = (await cluster.pods({ 'app.kubernetes.io/name': 'kvpn-router' }, 'default')).find((p) =>
    String(p.metadata.name).startsWith('kvpn-router-echo-'),
  )?.metadata.name as string;
  const script = `const http = require('node:http'); const end = Date.now() + 90000;
    let firstFail = 0, lastFail = 0, okAfter = 0, said = false;
    const done = (recovered) => { console.log(JSON.stringify({ windowMs: firstFail ? lastFail - firstFail : 0, recovered })); process.exit(0); };
    const failed = () => { const now = Date.now(); firstFail ||= now; lastFail = now; okAfter = 0; next(); };
    const next = () => (Date.now() > end ? done(false) : setTimeout(tick, 20));
    const tick = () => {
      const req = http.get({ host: 'echo.default.svc.cluster.local', port: 80, path: '/', agent: false }, (res) => {
        res.resume(); res.on('end', () => {
          if (res.statusCode !== 200) return failed();
          if (!said) { said = true; console.log('ready'); }
          if (firstFail && ++okAfter >= 25) return done(true);
          next();
        });
      });
      req.on('error', failed); req.setTimeout(1000, () => req.destroy(new Error('timeout')));
    };
    tick();`;
  const child = cluster.spawn(
    'kubectl',
    [
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--context',
      'admin',
      'exec',
      '-n',
      'default',
      pod,
      '--',
      'node',
      '-e',
      script,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const out = child.stdout as NodeJS.ReadableStream;
  out.setEncoding('utf8');
  let text = '';
  await new Promise<void>((resolve) =>
    out.on('data', (d: string) => {
      text += d;
      if (text.includes('ready')) resolve();
    }),
  );
  await cluster.kubectl(['delete', 'pod', '-n', 'default', router, '--wait=false'], { context: 'admin' });
  await once(child, 'exit');
  const line = text.split('\n').find((l) => l.startsWith('{'));
  return line ? (JSON.parse(line) as { windowMs: number; recovered: boolean }) : { windowMs: -1, recovered: false };
}

const RBAC_DOC = new URL('../../docs/rbac.md', import.meta.url);

const isPod = (who: string): boolean => /^echo-/.test(who);

/**
 * Starts, in an echo pod, requests with x-dev=DEV every 50 ms on fresh connections; resolves
 * once the laptop answers them (so the caller may break it) with a promise of the epoch ms at
 * which a pod first answered instead (0 if none within 20 s).
 */
async function watchFailOpen(cluster: Cluster, dev: string): Promise<{ podAt: Promise<number> }> {
  const pod = (await cluster.pods({ app: 'echo' }, 'default'))[0]?.metadata.name as string;
  const script = `const http = require('node:http'); let said = false; const end = Date.now() + 20000;
    const tick = () => http.get({ host: 'echo.default.svc.cluster.local', port: 80, path: '/', agent: false,
        headers: { 'x-dev': ${JSON.stringify(dev)} } }, (res) => {
      let b = ''; res.setEncoding('utf8'); res.on('data', (d) => { b += d; });
      res.on('end', () => {
        if (/^echo-/.test(b)) { console.log('pod ' + Date.now()); process.exit(0); }
        if (!said) { said = true; console.log('laptop'); }
        if (Date.now() > end) { console.log('pod 0'); process.exit(0); }
        setTimeout(tick, 50);
      });
    }).on('error', () => { if (Date.now() > end) { console.log('pod 0'); process.exit(0); } setTimeout(tick, 50); });
    tick();`;
  const child = cluster.spawn(
    'kubectl',
    [
      '--kubeconfig',
      cluster.kubeconfigPath,
      '--context',
      'admin',
      'exec',
      '-n',
      'default',
      pod,
      '--',
      'node',
      '-e',
      script,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  const lines = child.stdout as NodeJS.ReadableStream;
  lines.setEncoding('utf8');
  await new Promise<void>((resolve) =>
    lines.on('data', (d: string) => {
      out += d;
      if (out.includes('laptop') || out.includes('pod ')) resolve();
    }),
  );
  // Wrapped: an async function returning a promise would wait for it.
  const podAt = new Promise<number>((resolve) => {
    const check = (): void => {
      const m = /pod (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    check();
    lines.on('data', check);
    child.on('exit', () => {
      check();
      resolve(0);
    });
  });
  return { podAt };
}

const real = await realWorld();
t.test('kvpn intercept: whole, then personal from two laptops', { skip: !real.run && real.why }, async (t) => {
  const cluster = await startCluster({ kind: 'real' });
  t.teardown(() => cluster.stop());
  const alice = kvpnIn(t, cluster);
  const second = await cluster.addLaptop();
  const bob = kvpnIn(t, cluster, second);
  // A second developer: their own context name (kvpn's session is named after the context).
  const bobConfig = join(bob.dir, 'kubeconfig');
  copyFileSync(cluster.kubeconfigPath, bobConfig);
  const renamed = await cluster.exec('kubectl', [
    '--kubeconfig',
    bobConfig,
    'config',
    'rename-context',
    'admin',
    'bob',
  ]);
  t.equal(renamed.code, 0, renamed.stderr);
  bob.env.KUBECONFIG = bobConfig;
  await laptopServer(t, alice.laptop, 8080, 'laptop-alice');
  await laptopServer(t, bob.laptop, 8080, 'laptop-bob');
  await laptopServer(t, alice.laptop, 8081, 'laptop-alice', 'h2c');
  await laptopServer(t, bob.laptop, 8081, 'laptop-bob', 'h2c');
  const applied = await cluster.kubectl(['apply', '-f', '-'], { context: 'admin', input: JSON.stringify(H2ECHO) });
  t.equal(applied.code, 0, applied.stderr);
  const before = await serviceJson(cluster);

  for (const [k, context] of [
    [alice, 'admin'],
    [bob, 'bob'],
  ] as [Kvpn, string][]) {
    const up = await k.run(['up', '--context', context], { timeoutMs: 180_000 });
    t.equal(up.code, EXIT.OK, up.stderr);
  }

  // (2) Whole: every connection to echo:80 reaches alice's laptop.
  const whole = await alice.run(['intercept', 'deploy/echo', '--port', '8080:80'], { timeoutMs: 180_000 });
  t.equal(whole.code, EXIT.OK, whole.stderr);
  t.match(whole.stdout, /Intercepting Deployment\/echo: every connection to Service echo:80/);
  const intercepted = await until(cluster, [null, 'anyone', null], (w) => w.every((x) => x === 'laptop-alice'));
  t.same(
    intercepted.who,
    ['laptop-alice', 'laptop-alice', 'laptop-alice'],
    `pods reach the laptop (${intercepted.ms} ms)`,
  );
  const redirected = JSON.parse(await serviceJson(cluster));
  t.match(redirected.metadata.annotations, { 'kvpn.dev/original-selector': '{"app":"echo"}' }, 'the selector is kept');

  const refused = await bob.run(['intercept', 'deploy/echo', '--port', '8080:80', '--header', 'x-dev=bob']);
  t.equal(refused.code, EXIT.CONFIG, 'a personal intercept next to a whole one is refused');
  t.match(refused.stderr, /intercepted whole by .*@[\s\S]*KVPN_ERR_INTERCEPT_CONFLICT/i);
  const listing = await bob.run(['intercepts', '--context', 'bob', '--json']);
  t.equal(listing.code, EXIT.OK, listing.stderr);
  const listed = JSON.parse(listing.stdout || '{}');
  t.match(listed.intercepts, [
    { workload: 'Deployment/echo', service: 'echo', servicePort: 80, filter: '', stale: false },
  ]);

  const left = await alice.run(['leave', 'echo-80']);
  t.equal(left.code, EXIT.OK, left.stderr);
  const back = await until(cluster, [null, null], (w) => w.every(isPod));
  t.ok(back.who.every(isPod), `after leave the pods answer again: ${back.who.join(', ')} (${back.ms} ms)`);
  t.equal(
    await serviceJson(cluster),
    before,
    'the Service is byte-identical to before (minus resourceVersion/managedFields)',
  );
  t.same(await noInterceptObjects(cluster), [], 'no router, decoy or lease left');

  // (3) Personal: alice and bob at once; one keep-alive connection carries requests for all three sides.
  for (const [k, dev] of [
    [alice, 'alice'],
    [bob, 'bob'],
  ] as [Kvpn, string][]) {
    const r = await k.run(['intercept', 'echo', '--port', '8080:http', '--header', `x-dev=${dev}`], {
      timeoutMs: 180_000,
    });
    t.equal(r.code, EXIT.OK, r.stderr);
  }
  const plan = ['alice', 'bob', null, 'alice', null, 'bob'];
  const mixed = await until(cluster, plan, (w) => w[0] === 'laptop-alice' && w[1] === 'laptop-bob');
  t.match(
    mixed,
    { who: ['laptop-alice', 'laptop-bob', /^echo-/, 'laptop-alice', /^echo-/, 'laptop-bob'], connections: 1 },
    'each header reaches its laptop, the rest the pods, on one keep-alive connection',
  );
  const status = JSON.parse((await alice.run(['status', '--json'])).stdout).sessions[0];
  t.match(status.intercepts, [{ name: 'echo-80', filter: 'x-dev=alice', registered: true }]);
  t.ok(status.intercepts[0].connections.accepted >= 1, 'the laptop served them');

  // HTTP/2 cleartext, gRPC-style: one connection, concurrent streams, each routed on its own, trailers kept.
  const rolled = await cluster.kubectl(['rollout', 'status', 'deployment/h2echo', '--timeout=120s'], {
    context: 'admin',
  });
  t.equal(rolled.code, 0, rolled.stderr);
  for (const [k, dev] of [
    [alice, 'alice'],
    [bob, 'bob'],
  ] as [Kvpn, string][]) {
    const r = await k.run(
      ['intercept', 'deploy/h2echo', '--port', '8081:80', '--header', `x-dev=${dev}`, '--name', 'h2'],
      {
        timeoutMs: 180_000,
      },
    );
    t.equal(r.code, EXIT.OK, r.stderr);
  }
  let streams = await h2InCluster(cluster, plan);
  for (let i = 0; i < 20 && streams[0]?.who !== 'laptop-alice'; i++) streams = await h2InCluster(cluster, plan);
  t.match(
    streams,
    [
      { who: 'laptop-alice', status: '0' },
      { who: 'laptop-bob', status: '0' },
      { who: /^h2echo-/, status: '0' },
      { who: 'laptop-alice', status: '0' },
      { who: /^h2echo-/, status: '0' },
      { who: 'laptop-bob', status: '0' },
    ],
    'h2c: each stream of one connection reaches its side, with its trailers',
  );
  for (const k of [alice, bob]) t.equal((await k.run(['leave', 'h2'])).code, EXIT.OK);

  // The router pod deleted: its Deployment makes another; requests fail only in between, and the
  // laptops register again by themselves.
  const outage = await measureRouterOutage(cluster);
  t.ok(
    outage.recovered,
    `a client retrying every 20 ms fails for ${outage.windowMs} ms while the router pod is replaced`,
  );
  const reRegistered = await until(
    cluster,
    ['alice', 'bob'],
    (w) => w[0] === 'laptop-alice' && w[1] === 'laptop-bob',
    60_000,
  );
  t.same(
    reRegistered.who,
    ['laptop-alice', 'laptop-bob'],
    `both laptops registered again (${reRegistered.ms} ms later)`,
  );

  // (4) bob's daemon killed: the router stops sending it anything; within seconds bob's requests reach the pods.
  // Measured inside the pod (same clock as this process): a request with bob's header every 50 ms.
  const bobDaemon = await daemonPid(bob);
  const watcher = await watchFailOpen(cluster, 'bob');
  const killedAt = Date.now();
  process.kill(bobDaemon, 'SIGKILL');
  const podAt = await watcher.podAt;
  if (!t.ok(podAt > 0, "bob's requests reach the pods again")) {
    const router = (await cluster.pods({ 'app.kubernetes.io/name': 'kvpn-router' }, 'default'))[0]?.metadata.name;
    const logs = await cluster.kubectl(['logs', '-n', 'default', String(router)], { context: 'admin' });
    const ss = await cluster.execInPod(String(router), 'default', 'ss', ['-tn']);
    const laptopSs = await bob.laptop.exec('ss', ['-tnp']);
    t.comment(
      `router log:\n${logs.stdout}${logs.stderr}\nrouter sockets:\n${ss.stdout}\nbob's sockets:\n${laptopSs.stdout}`,
    );
  }
  t.ok(podAt - killedAt < 5000, `within 5 s of kill -9 (${podAt - killedAt} ms)`);
  const failedOpen = await requestsInCluster(cluster, ['bob', 'alice']);
  t.ok(isPod(failedOpen.who[0] as string), `and stay there: ${failedOpen.who[0]}`);
  t.equal(failedOpen.who[1], 'laptop-alice', "alice's intercept is untouched");

  // Had bob never come back, his lease would go stale (made so here: renewed long ago), and any
  // kvpn that meets it removes it; alice's intercept keeps the Service redirected.
  const leases = (): Promise<{ id: string; leaseName: string; stale: boolean }[]> =>
    alice
      .run(['intercepts', '--context', 'admin', '--json'])
      .then((r) => JSON.parse(r.stdout || '{}').intercepts ?? []);
  const bobLease = (await leases()).find((l) => l.id.startsWith('bob-'));
  t.ok(bobLease, "bob's lease is listed");
  const aged = await cluster.kubectl(
    ['annotate', '--overwrite', 'configmap', String(bobLease?.leaseName), 'kvpn.dev/renewed=2026-01-01T00:00:00.000Z'],
    { context: 'admin' },
  );
  t.equal(aged.code, 0, aged.stderr);
  await leases(); // this listing sweeps the stale lease
  t.same(
    (await leases()).map((l) => [l.id.split('-')[0], l.stale]),
    [['admin', false]],
    "bob's stale lease is gone, alice's stays",
  );
  t.match(JSON.parse(await serviceJson(cluster)).metadata.annotations, {
    'kvpn.dev/original-selector': '{"app":"echo"}',
  });
  const bobDown = await bob.run(['down'], { timeoutMs: 120_000 });
  t.equal(bobDown.code, EXIT.OK, bobDown.stderr);

  // (5) alice's down: the Service is restored and nothing of either laptop is left.
  const aliceDown = await alice.run(['down'], { timeoutMs: 120_000 });
  t.equal(aliceDown.code, EXIT.OK, aliceDown.stderr);
  t.equal(await serviceJson(cluster), before, 'the Service is as it was');
  t.same(await noInterceptObjects(cluster), [], 'no router pod, decoy or lease left');
  const after = await requestsInCluster(cluster, ['alice', 'bob', null]);
  t.ok(after.who.every(isPod), `every request reaches the pods: ${after.who.join(', ')}`);

  // docs/rbac.md's kvpn-intercept Role, read from the page, is what staging needs on top of the tunnel's.
  const upStaging = await alice.run(['up', '--context', 'staging'], { timeoutMs: 180_000 });
  t.equal(upStaging.code, EXIT.OK, upStaging.stderr);
  const forbidden = await alice.run(['intercept', 'deploy/echo', '--port', '8080:http', '--header', 'x-dev=alice']);
  t.equal(forbidden.code, EXIT.CONFIG, 'without the Role: refused');
  t.match(forbidden.stderr, /forbidden|not allowed[\s\S]*KVPN_ERR_(API|INTERCEPT)_FORBIDDEN/i);
  const role = [...readFileSync(RBAC_DOC, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1] as string)
    .find((y) => /name: kvpn-intercept\n/.test(y));
  t.ok(role, 'docs/rbac.md documents the kvpn-intercept Role');
  const binding = `${(role ?? '').replaceAll('namespace: my-namespace', 'namespace: default')}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: kvpn-intercept, namespace: default}
subjects: [{kind: ServiceAccount, name: staging, namespace: default}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: kvpn-intercept}
`;
  const granted = await cluster.kubectl(['apply', '-f', '-'], { context: 'admin', input: binding });
  t.equal(granted.code, 0, granted.stderr);
  const allowed = await alice.run(['intercept', 'deploy/echo', '--port', '8080:http', '--header', 'x-dev=alice'], {
    timeoutMs: 180_000,
  });
  t.equal(allowed.code, EXIT.OK, allowed.stderr);
  const withRole = await until(cluster, ['alice', null], (w) => w[0] === 'laptop-alice');
  t.match(withRole.who, ['laptop-alice', /^echo-/], 'with the Role, intercepted');
  t.equal((await alice.run(['down'], { timeoutMs: 120_000 })).code, EXIT.OK);
  t.equal(await serviceJson(cluster), before, 'restored by the Role holder too');
  t.same(await noInterceptObjects(cluster), [], 'nothing left');
});
