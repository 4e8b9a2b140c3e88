// Dual-stack and IPv6-only clusters, on real Kubernetes started so
// (test/cluster/ip-families.ts): the API server, controller-manager,
// kubelet, CNI and kube-proxy hand out both families (or IPv6 alone), and
// kvpn must find the ranges, route them, answer AAAA and carry IPv6 flows
// as it does IPv4 ones. The stand-in is IPv4-only: these run on the real
// world only, and every expected value is read from the real API.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { SessionStatus } from '../../src/session/types.js';
import { type Cluster, startCluster } from '../cluster/index.js';
import type { IpFamilies } from '../cluster/ip-families.js';
import { realWorld } from '../cluster/worlds.js';
import { fetchInCluster, fetchOnceProgrammed, laptopServer } from './helpers/in-cluster.js';
import { noInterceptObjects } from './helpers/intercept-objects.js';
import { daemonPid, type Kvpn, kvpnIn, laptop, snapshot, udpRoundTrip } from './helpers/kvpn.js';

const real = await realWorld();

async function world(t: Test, ipFamilies: IpFamilies): Promise<Cluster> {
  const cluster = await startCluster({ kind: 'real', ipFamilies });
  t.teardown(() => cluster.stop());
  return cluster;
}

/** What the real API says: a JSON path of one object, through kubectl as admin. */
async function apiJson(cluster: Cluster, args: string[]): Promise<string> {
  const r = await cluster.kubectl([...args, '-o', 'json'], { context: 'admin' });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function status(kvpn: Kvpn): Promise<SessionStatus> {
  const r = await kvpn.run(['status', '--json']);
  return (JSON.parse(r.stdout) as { sessions: SessionStatus[] }).sessions[0] as SessionStatus;
}

/** A TCP connect from the laptop with node, printing "connected" or the errno code. */
async function connectOutcome(cluster: Cluster, host: string, port: number): Promise<string> {
  const script = `const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port} });
s.setTimeout(8000, () => { console.log('timeout'); process.exit(0); });
s.on('connect', () => { console.log('connected'); s.destroy(); });
s.on('error', (e) => console.log(e.code));`;
  return (await cluster.exec(process.execPath, ['-e', script], { timeoutMs: 12_000 })).stdout.trim();
}

async function dig(cluster: Cluster, args: string[]): Promise<string[]> {
  const r = await laptop(cluster, 'dig', ['+short', '+time=2', '+tries=2', ...args]);
  return r.stdout.split('\n').filter(Boolean).sort();
}

t.test('dual-stack cluster', { skip: !real.run && real.why }, async (t) => {
  const cluster = await world(t, 'dual');
  const kvpn = kvpnIn(t, cluster);
  const before = await snapshot(cluster, kvpn);
  // admin: every range from its source (ServiceCIDR API, nodes' podCIDRs).
  const up = await kvpn.run(['up', '--context', 'admin']);
  t.equal(up.code, EXIT.OK, up.stderr);
  const pid = await daemonPid(kvpn);
  const session = await status(kvpn);

  t.test('both families discovered, routed and shown', async (t) => {
    const serviceCidr = JSON.parse(await apiJson(cluster, ['get', 'servicecidrs', 'kubernetes']));
    const node = JSON.parse(await apiJson(cluster, ['get', 'nodes'])).items[0];
    const routed = session.routes.map((r) => r.cidr);
    for (const cidr of [...serviceCidr.spec.cidrs, ...node.spec.podCIDRs] as string[])
      t.ok(routed.includes(cidr), `${cidr} (from the API) is routed: ${routed.join(' ')}`);
    t.ok(session.routes.some((r) => r.family === 6) && session.routes.some((r) => r.family === 4), 'routes of both');
    t.ok(session.tun?.ipv4?.address && session.tun?.ipv6?.address, 'the TUN has an address of each family');
    const shown = await kvpn.run(['status']);
    t.match(shown.stdout, /routes IPv4 .*10\.96\.0\.0\/12/);
    t.match(shown.stdout, /routes IPv6 .*fd00:10:96::\/112/);
    const addr = await laptop(cluster, 'ip', ['-6', 'addr', 'show', 'dev', session.device as string]);
    t.match(addr.stdout, session.tun?.ipv6?.address as string, 'the IPv6 address is on the link');
  });

  t.test('one Service by name over IPv4 and over IPv6', async (t) => {
    const ips: string[] = JSON.parse(await apiJson(cluster, ['get', 'service', 'echo'])).spec.clusterIPs;
    t.equal(ips.length, 2, `PreferDualStack gave two ClusterIPs: ${ips.join(' ')}`);
    const name = `echo.default.svc.${cluster.clusterDomain}`;
    for (const [flag, ip] of [
      ['-4', ips.find((i) => !i.includes(':'))],
      ['-6', ips.find((i) => i.includes(':'))],
    ] as const) {
      const curl = await laptop(cluster, 'curl', ['-sS', flag, '-m', '10', '-w', ' %{remote_ip}', `http://${name}/`]);
      t.match(curl.stdout, new RegExp(`^echo-\\S+\\n ${ip}$`), `curl ${flag} ${name} reached ${ip}: ${curl.stderr}`);
    }
    t.same(await dig(cluster, ['AAAA', name]), [ips[1]], 'dig AAAA: the IPv6 ClusterIP');
    t.same(await dig(cluster, ['A', name]), [ips[0]], 'dig A: the IPv4 ClusterIP');
    const dns6 = session.tun?.ipv6?.dns as string;
    t.same(await dig(cluster, [`@${dns6}`, 'AAAA', name]), [ips[1]], `kvpn's DNS answers over IPv6 at ${dns6}`);
  });

  t.test('headless Service: both families of every ready pod', async (t) => {
    const pods = JSON.parse(await apiJson(cluster, ['get', 'pods', '-l', 'app=peers'])).items as {
      status: { podIPs: { ip: string }[] };
    }[];
    const podIps = pods.flatMap((p) => p.status.podIPs.map((i) => i.ip));
    const name = `peers.default.svc.${cluster.clusterDomain}`;
    t.same(await dig(cluster, ['AAAA', name]), podIps.filter((i) => i.includes(':')).sort(), 'AAAA');
    t.same(await dig(cluster, ['A', name]), podIps.filter((i) => !i.includes(':')).sort(), 'A');
  });

  t.test("a pod's IPv6 name: kvpn answers what the cluster's CoreDNS answers", async (t) => {
    const pod = JSON.parse(await apiJson(cluster, ['get', 'pods', '-l', 'app=postgres'])).items[0];
    const ip6 = (pod.status.podIPs as { ip: string }[]).find((i) => i.ip.includes(':'))?.ip as string;
    // CoreDNS's form for IPv6: every ':' a '-' (fd00:10:244::5 → fd00-10-244--5).
    const name = `${ip6.replaceAll(':', '-')}.default.pod.${cluster.clusterDomain}`;
    const inCluster = await cluster.execInPod(pod.metadata.name, 'default', 'dig', [
      '+short',
      `@${cluster.dnsServiceIp}`,
      'AAAA',
      name,
    ]);
    t.same(await dig(cluster, ['AAAA', name]), [inCluster.stdout.trim()], `dig AAAA ${name}`);
    t.equal(inCluster.stdout.trim(), ip6);
  });

  t.test('psql, UDP and a refused port on IPv6 addresses', async (t) => {
    const pg: string = JSON.parse(await apiJson(cluster, ['get', 'service', 'postgres'])).spec.clusterIPs[1];
    const psql = await laptop(cluster, 'psql', ['-h', pg, '-U', 'postgres', '-tAc', 'select 6*7'], 20_000);
    t.equal(psql.stdout.trim(), '42', `psql -h ${pg}: ${psql.stderr}`);
    const udp: string = JSON.parse(await apiJson(cluster, ['get', 'service', 'udp-echo'])).spec.clusterIPs[1];
    const port = JSON.parse(await apiJson(cluster, ['get', 'service', 'udp-echo'])).spec.ports[0].port;
    t.equal(await udpRoundTrip(cluster, udp, port, 'over six'), 'over six', `UDP to [${udp}]:${port}`);
    const echoPod = JSON.parse(await apiJson(cluster, ['get', 'pods', '-l', 'app=echo'])).items[0];
    const pod6 = (echoPod.status.podIPs as { ip: string }[]).find((i) => i.ip.includes(':'))?.ip as string;
    t.equal(await connectOutcome(cluster, pod6, 81), 'ECONNREFUSED', `[${pod6}]:81 (nothing listens): refused`);
    t.equal(await connectOutcome(cluster, pod6, 8080), 'connected', `[${pod6}]:8080: connected`);
  });

  t.test('down: nothing left, IPv6 addresses and routes included', async (t) => {
    const down = await kvpn.run(['down']);
    t.equal(down.code, EXIT.OK, down.stderr);
    t.same(await snapshot(cluster, kvpn, [pid]), before);
  });

  t.test("a namespace user: both Service ranges from the API server's own refusals", async (t) => {
    // staging-reader may create Services (dry run) but not list ServiceCIDRs: the per-family
    // probe reads each range from the real API server's "invalid ClusterIP" message.
    const reader = kvpnIn(t, cluster);
    const up = await reader.run(['up', '--context', 'staging-reader']);
    t.equal(up.code, EXIT.OK, up.stderr);
    const s = await status(reader);
    t.equal(s.cidrSources.service, 'invalid-clusterip', s.cidrSources.notes.join('; '));
    const serviceCidr = JSON.parse(await apiJson(cluster, ['get', 'servicecidrs', 'kubernetes']));
    const routed = s.routes.filter((r) => r.source === 'service').map((r) => r.cidr);
    t.same(routed.sort(), [...serviceCidr.spec.cidrs].sort(), `the ServiceCIDR's ranges exactly: ${routed.join(' ')}`);
    // Its DNS answers come from the Service watch (no round trip): AAAA included.
    const ips: string[] = JSON.parse(await apiJson(cluster, ['get', 'service', 'web', '-n', 'shop'])).spec.clusterIPs;
    t.same(await dig(cluster, ['AAAA', `web.shop.svc.${cluster.clusterDomain}`]), [ips[1]], 'dig AAAA web.shop');
    const curl = await laptop(cluster, 'curl', ['-sS', '-6', '-m', '10', 'http://web.shop/']);
    t.match(curl.stdout, /^web-/, `curl -6 http://web.shop/: ${curl.stderr}`);
    const down = await reader.run(['down']);
    t.equal(down.code, EXIT.OK, down.stderr);
  });
});

t.test('IPv6-only cluster', { skip: !real.run && real.why }, async (t) => {
  const cluster = await world(t, 'ipv6');
  const kvpn = kvpnIn(t, cluster);
  const before = await snapshot(cluster, kvpn);
  // The API server at its IPv6 address, as an IPv6-only cluster's kubeconfig names it.
  const kubeconfig = join(kvpn.dir, 'kubeconfig-ipv6');
  const server = `https://[${cluster.addressing.nodeIps[0]}]:${cluster.apiServerPort}`;
  writeFileSync(kubeconfig, readFileSync(cluster.kubeconfigPath, 'utf8').replaceAll(cluster.apiServerUrl, server));
  // The minimal Role of docs/rbac.md: ranges guessed around the (IPv6) well-known Services.
  const up = await kvpn.run(['up', '--context', 'staging', '--kubeconfig', kubeconfig]);
  t.equal(up.code, EXIT.OK, up.stderr);
  const pid = await daemonPid(kvpn);
  const session = await status(kvpn);
  t.equal(session.server, server, 'the session talks to the API server over IPv6');
  t.ok(
    session.routes.every((r) => r.family === 6),
    `only IPv6 ranges: ${session.routes.map((r) => r.cidr).join(' ')}`,
  );
  const echo: string = JSON.parse(await apiJson(cluster, ['get', 'service', 'echo'])).spec.clusterIP;
  t.match(echo, /:/, 'the Service has an IPv6 ClusterIP');
  const name = `echo.default.svc.${cluster.clusterDomain}`;
  for (const url of [`http://${name}/`, 'http://echo.default/', 'http://web.shop/']) {
    const curl = await laptop(cluster, 'curl', ['-sS', '-m', '10', url]);
    t.match(curl.stdout, /^(echo|web)-/, `curl ${url}: ${curl.stderr}`);
  }
  t.same(await dig(cluster, ['AAAA', name]), [echo], 'dig AAAA');
  t.same(await dig(cluster, ['A', name]), [], 'no A record: the cluster has no IPv4');
  const psql = await laptop(cluster, 'psql', ['-h', 'postgres.default', '-U', 'postgres', '-tAc', 'select 1'], 20_000);
  t.equal(psql.stdout.trim(), '1', `psql by name: ${psql.stderr}`);
  const down = await kvpn.run(['down']);
  t.equal(down.code, EXIT.OK, down.stderr);
  t.same(await snapshot(cluster, kvpn, [pid]), before, 'nothing left, IPv6 addresses and routes included');

  t.test('expose and intercept: pods with no IPv4 reach the laptop', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kvpn-six-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'file.txt'), 'served to an IPv6-only cluster\n');
    await laptopServer(t, cluster, 8099, dir);
    const admin = kvpnIn(t, cluster);
    const up = await admin.run(['up', '--context', 'admin', '--dns', 'off']);
    t.equal(up.code, EXIT.OK, up.stderr);
    const expose = await admin.run(['expose', '8099', '--name', 'six']);
    t.equal(expose.code, EXIT.OK, expose.stderr);
    const got = await fetchOnceProgrammed(cluster, 'http://six.default:8099/file.txt');
    t.equal(got.body, 'served to an IPv6-only cluster\n', `fetched from the echo pod: ${got.err}`);

    // A personal intercept: the router pod listens on ::, dials the pods' IPv6 addresses.
    const intercept = await admin.run(['intercept', 'deploy/echo', '--port', '8099:80', '--header', 'x-dev=six'], {
      timeoutMs: 180_000,
    });
    t.equal(intercept.code, EXIT.OK, intercept.stderr);
    let mine = await fetchInCluster(cluster, 'http://echo.default/file.txt', { 'x-dev': 'six' });
    for (let i = 0; i < 60 && mine.body !== 'served to an IPv6-only cluster\n'; i++) {
      await new Promise((r) => setTimeout(r, 500)); // kube-proxy follows the Service's new selector
      mine = await fetchInCluster(cluster, 'http://echo.default/file.txt', { 'x-dev': 'six' });
    }
    t.equal(mine.body, 'served to an IPv6-only cluster\n', `x-dev: six reached the laptop: ${mine.err}`);
    const others = await fetchInCluster(cluster, 'http://echo.default/file.txt');
    t.match(others.body, /^echo-/, `everyone else's requests still reach the pods: ${others.err}`);
    const down = await admin.run(['down']);
    t.equal(down.code, EXIT.OK, down.stderr);
    t.same(await noInterceptObjects(cluster), [], 'the routers and decoys are gone');
  });
});
