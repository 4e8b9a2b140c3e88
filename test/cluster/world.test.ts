// The test world's network, as kvpn will rely on it: pods reach Services
// (DNAT, balancing, hairpin, across nodes) and resolve cluster names; the
// laptop reaches none of it and has its own upstream resolver; teardown
// leaves nothing behind.
import { readdir } from 'node:fs/promises';
import t from 'tap';
import { startCluster } from './index.js';

const t0 = performance.now();
const cluster = await startCluster();
const startMs = performance.now() - t0;
let stopped = false;
t.teardown(() => (stopped ? undefined : cluster.stop()));
t.comment(`world ${cluster.id} up in ${startMs.toFixed(0)} ms`);

const echoIp = await cluster.serviceIp('echo');
const [client] = await cluster.pods({ app: 'udp-echo' });
const clientName = client?.metadata.name ?? '';

async function inClient(cmd: string, args: string[]): Promise<string> {
  const r = await cluster.execInPod(clientName, 'default', cmd, args, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

t.test('pods and addresses follow the plan', async (t) => {
  const nodes = await cluster.nodes();
  t.equal(nodes.length, 2);
  t.same(
    nodes.map((n) => n.podCidr),
    ['10.244.0.0/24', '10.244.1.0/24'],
  );
  const pods = await cluster.objects('pods');
  t.equal(pods.length, 9, 'echo×2, peers×3, postgres, udp-echo, coredns, shop/web');
  for (const p of pods) t.match(p.status?.podIP, /^10\.244\.[01]\.\d+$/, `${p.metadata.name} has a pod IP`);
  t.match(echoIp, /^10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+$/, 'ClusterIP inside 10.96.0.0/12');
  t.equal(await cluster.serviceIp('kube-dns', 'kube-system'), '10.96.0.10');
});

t.test('a Service balances over both echo pods, across nodes', async (t) => {
  const names = new Set<string>();
  for (let i = 0; i < 30 && names.size < 2; i++)
    names.add((await inClient('curl', ['-sS', '-m', '3', `http://${echoIp}/`])).trim());
  const echoPods = (await cluster.pods({ app: 'echo' })).map((p) => p.metadata.name);
  t.same([...names].sort(), echoPods.sort(), 'both endpoints answered with their pod names');
  const nodes = new Set((await cluster.pods({ app: 'echo' })).map((p) => p.spec?.nodeName));
  t.equal(nodes.size, 2, 'the two echo pods run on different nodes');
});

t.test('targetPort by name and a second port (tcp echo)', async (t) => {
  const out = await inClient('sh', ['-c', `printf 'ping\\n' | timeout 3 nc -q 1 ${echoIp} 7`]).catch((e) => String(e));
  t.equal(out.trim(), 'ping');
});

t.test('a pod reaches itself through its own Service (hairpin)', async (t) => {
  const [pg] = await cluster.pods({ app: 'postgres' });
  const ip = await cluster.serviceIp('postgres');
  const r = await cluster.execInPod(
    pg?.metadata.name ?? '',
    'default',
    'psql',
    ['-h', ip, '-U', 'postgres', '-tAc', 'select 40+2'],
    { timeoutMs: 10_000 },
  );
  t.equal(r.stdout.trim(), '42', r.stderr);
});

t.test('cluster DNS answers as CoreDNS does', async (t) => {
  const dig = async (...args: string[]): Promise<string> => (await inClient('dig', ['+short', ...args])).trim();
  t.equal(await dig('echo.default.svc.cluster.local'), echoIp, 'ClusterIP A record');
  t.equal(await dig('web.shop.svc.cluster.local'), await cluster.serviceIp('web', 'shop'), 'other namespace');
  const peers = (await cluster.pods({ app: 'peers' })).map((p) => p.status?.podIP).sort();
  t.same((await dig('peers.default.svc.cluster.local')).split('\n').sort(), peers, 'headless: one A per ready pod');
  const peer0 = await cluster.podIp('peers-0');
  t.equal(await dig('peers-0.peers.default.svc.cluster.local'), peer0, 'StatefulSet pod hostname');
  t.match(
    await dig('ext.default.svc.cluster.local'),
    /^echo\.default\.svc\.cluster\.local\.\n/,
    'ExternalName is a CNAME',
  );
  t.equal(
    await dig('SRV', '_http._tcp.echo.default.svc.cluster.local'),
    '0 100 80 echo.default.svc.cluster.local.',
    'SRV for a named port',
  );
  t.equal(await dig('-x', echoIp), 'echo.default.svc.cluster.local.', 'PTR of a ClusterIP');
  const nx = await inClient('dig', ['nosuch.default.svc.cluster.local']);
  t.match(nx, /status: NXDOMAIN/, 'unknown service name');
  t.match(nx, /cluster\.local\.\s+5\s+IN\s+SOA/, 'with the zone SOA');
  t.equal(
    (await inClient('curl', ['-sS', '-m', '3', 'http://web.shop/'])).trim().split('-')[0],
    'web',
    'search path from resolv.conf',
  );
  const tcp = await inClient('dig', ['+tcp', '+short', 'echo.default.svc.cluster.local']);
  t.equal(tcp.trim(), echoIp, 'over TCP too');
});

t.test('UDP Service', async (t) => {
  const ip = await cluster.serviceIp('udp-echo');
  const out = await inClient('sh', ['-c', `printf 'hello-udp' | timeout 3 nc -u -w 1 ${ip} 9000`]);
  t.equal(out, 'hello-udp');
});

t.test('a Service with no ready endpoint refuses connections, like kube-proxy', async (t) => {
  const created = await cluster.request('POST', '/api/v1/namespaces/default/services', {
    context: 'admin', // staging holds only docs/rbac.md's minimal Role: no Services
    body: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'nobody' },
      spec: { selector: { app: 'nobody' }, ports: [{ port: 80 }] },
    },
  });
  t.equal(created.status, 201);
  const ip = created.json().spec.clusterIP;
  const r = await cluster.execInPod(clientName, 'default', 'bash', ['-c', `exec 3<>/dev/tcp/${ip}/80`], {
    timeoutMs: 5000,
  });
  t.not(r.code, 0);
  t.match(r.stderr, /Connection refused/);
  const other = await cluster.execInPod(clientName, 'default', 'bash', ['-c', `exec 3<>/dev/tcp/${echoIp}/8080`], {
    timeoutMs: 5000,
  });
  t.match(other.stderr, /Connection refused/, 'a port the Service does not have');
});

t.test('the laptop reaches no cluster address without kvpn', async (t) => {
  for (const ip of [echoIp, '10.96.0.10', '10.96.0.1', await cluster.podIp('peers-0'), '10.244.1.1', '172.18.0.2']) {
    const route = await cluster.exec('ip', ['route', 'get', ip]);
    t.not(route.code, 0, `no route to ${ip}`);
    t.match(route.stderr, /unreachable/i);
  }
  const curl = await cluster.exec('curl', ['-sS', '-m', '2', `http://${echoIp}/`]);
  t.not(curl.code, 0);
  t.match(curl.stderr, /Network is unreachable|Couldn't connect/);
  const links = await cluster.exec('ip', ['-o', 'link']);
  t.same(
    links.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(':')[1]?.trim()),
    ['lo'],
    'the laptop has only loopback',
  );
  const dig = await cluster.exec('dig', ['+time=1', '+tries=1', '@10.96.0.10', 'echo.default.svc.cluster.local']);
  t.not(dig.code, 0, 'cluster DNS unreachable');
});

t.test("the laptop's system resolver is an upstream that knows example.test, not the cluster", async (t) => {
  const conf = await cluster.exec('cat', ['/etc/resolv.conf']);
  t.match(conf.stdout, /nameserver 127\.0\.0\.53/);
  t.equal((await cluster.exec('dig', ['+short', 'example.test'])).stdout.trim(), '127.0.0.80');
  t.equal((await cluster.exec('curl', ['-sS', 'http://example.test/'])).stdout, 'upstream example.test\n');
  const nx = await cluster.exec('dig', ['echo.default.svc.cluster.local']);
  t.match(nx.stdout, /status: NXDOMAIN/);
  const queries = await cluster.upstreamDnsQueries();
  t.ok(
    queries.some((q) => q.name === 'echo.default.svc.cluster.local' && q.rcode === 'NXDOMAIN'),
    'the upstream saw the cluster name',
  );
});

t.test('stop removes every namespace, file and process of the world', async (t) => {
  const pids = (await cluster.podNet(clientName)).pids;
  t.ok(pids.length > 0);
  const t1 = performance.now();
  await cluster.stop();
  stopped = true;
  t.comment(`world stopped in ${(performance.now() - t1).toFixed(0)} ms`);
  t.same(
    (await readdir('/run/netns')).filter((n) => n.startsWith(`${cluster.id}-`)),
    [],
    'no network namespaces',
  );
  t.same(
    (await readdir('/etc/netns').catch(() => [])).filter((n) => n.startsWith(`${cluster.id}-`)),
    [],
    'no /etc/netns entries',
  );
  t.same(
    (await readdir('/tmp/kvpn-cluster').catch(() => [])).filter((n) => n === cluster.id),
    [],
    'no world directory',
  );
  for (const pid of pids) t.throws(() => process.kill(pid, 0), `pod process ${pid} is gone`);
  t.throws(() => process.kill(cluster.state.daemonPid, 0), 'daemon is gone');
});
