// As a new user would: `kvpn up --context staging` (a namespace-scoped user:
// no ServiceCIDR, no nodes), then curl, psql, dig, a pod IP and a UDP round
// trip from the laptop; `kvpn status --json` shows the flows; `kvpn down`
// leaves nothing behind — and neither does `down` after kill -9.
import t from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { SessionStatus } from '../../src/session/types.js';
import { startCluster } from '../cluster/index.js';
import { daemonPid, kvpnIn, laptop, snapshot, udpRoundTrip } from './helpers/kvpn.js';

const cluster = await startCluster();
t.teardown(() => cluster.stop());

t.test('up, use the cluster from the laptop, status, down: nothing remains', async (t) => {
  const kvpn = kvpnIn(t, cluster);
  const before = await snapshot(cluster, kvpn);
  const up = await kvpn.run(['up', '--context', 'staging']);
  t.equal(up.code, EXIT.OK, up.stderr);
  for (const step of [
    'kubeconfig loaded',
    'relay ready',
    'CIDRs discovered',
    'TUN and routes up',
    'DNS configured',
    'first connection verified',
  ]) {
    t.match(up.stderr, `✓ ${step}`, `progress: ${step}`);
  }
  t.match(
    up.stderr,
    'CIDRs discovered: services 10.96.0.0/12 (invalid-clusterip), pods 10.244.0.0/16 (pod-ips)',
    'the staging user cannot read ServiceCIDRs or nodes; discovery still finds the ranges',
  );
  t.match(up.stdout, /kvpn is up in [\d.]+s: this machine is now inside cluster "kvpn-test" \(context staging\)/);
  t.match(up.stdout, 'stop with   kvpn down --context staging');
  const pid = await daemonPid(kvpn);

  const full = await laptop(cluster, 'curl', ['-sS', '-m', '10', 'http://echo.default.svc.cluster.local/']);
  t.equal(full.code, 0, full.stderr);
  t.match(full.stdout, /^echo-/, 'the echo pod answered, by its Service FQDN');
  const short = await laptop(cluster, 'curl', ['-sS', '-m', '10', 'http://echo.default/']);
  t.match(short.stdout, /^echo-/, 'and by <service>.<namespace>');
  const psql = await laptop(cluster, 'psql', ['-h', 'postgres.default', '-U', 'postgres', '-At', '-c', 'select 1']);
  t.equal(psql.stdout.trim(), '1', `psql: ${psql.stderr}`);
  const dig = await laptop(cluster, 'dig', ['+short', 'echo.default.svc.cluster.local']);
  t.equal(dig.stdout.trim(), await cluster.serviceIp('echo'), 'dig through the system resolver');
  const echoPod = (await cluster.pods({ app: 'echo' }, 'default'))[0];
  const podIp = echoPod?.status?.podIP as string;
  const byPodIp = await laptop(cluster, 'curl', ['-sS', '-m', '10', `http://${podIp}:8080/`]);
  t.equal(byPodIp.stdout.trim(), echoPod?.metadata.name, 'a TCP connection straight to a pod IP');
  t.equal(
    await udpRoundTrip(cluster, 'udp-echo.default.svc.cluster.local', 9000, 'ping over udp'),
    'ping over udp',
    'UDP round trip',
  );

  const status = await kvpn.run(['status', '--json']);
  t.equal(status.code, EXIT.OK);
  const doc = JSON.parse(status.stdout) as { schema: number; sessions: SessionStatus[] };
  const s = doc.sessions[0] as SessionStatus;
  t.equal(doc.schema, 1);
  t.match(s, {
    context: 'staging',
    namespace: 'default',
    state: 'running',
    device: 'kvpn0',
    routes: [
      { cidr: '10.96.0.0/12', source: 'service' },
      { cidr: '10.244.0.0/16', source: 'pod' },
    ],
    dns: { mode: 'resolvconf', server: '198.18.0.2' },
    relay: { connected: true, recreated: 0 },
    cidrSources: { service: 'invalid-clusterip', pod: 'pod-ips' },
  });
  t.ok(s.traffic.tcpTotal >= 5, `TCP connections counted (${s.traffic.tcpTotal})`);
  t.ok(s.traffic.udpTotal >= 1, `UDP flows counted (${s.traffic.udpTotal})`);
  t.ok(s.traffic.bytesFromCluster > 0 && s.traffic.bytesToCluster > 0, 'bytes both ways');
  t.ok((s.dnsStats.queries ?? 0) > 0, 'DNS queries counted');
  const human = await kvpn.run(['status']);
  t.match(human.stdout, 'Session staging (running');

  const down = await kvpn.run(['down']);
  t.equal(down.code, EXIT.OK, down.stderr);
  for (const item of [
    'route 10.96.0.0/12 dev kvpn0',
    'link kvpn0',
    'resolver configuration',
    'relay pod, ConfigMap and Secret',
  ]) {
    t.match(down.stdout, `✓ removed: ${item}`);
  }
  t.same(
    await snapshot(cluster, kvpn, [pid]),
    before,
    'no link, route, resolver change, relay object, process, socket or state file',
  );
  const again = await kvpn.run(['down']);
  t.equal(again.code, EXIT.OK);
  t.match(again.stdout, 'nothing to clean up');
});

t.test('kill -9 of the daemon, then down: nothing remains', async (t) => {
  const kvpn = kvpnIn(t, cluster);
  const before = await snapshot(cluster, kvpn);
  const up = await kvpn.run(['up', '--context', 'staging']);
  t.equal(up.code, EXIT.OK, up.stderr);
  const pid = await daemonPid(kvpn);
  process.kill(pid, 'SIGKILL');
  const status = await kvpn.run(['status']);
  t.match(status.stdout, 'Session staging (crashed');
  const down = await kvpn.run(['down']);
  t.equal(down.code, EXIT.OK, down.stderr);
  t.match(down.stdout, 'Session staging was not running (crashed or killed); cleaning up what it left:');
  t.match(down.stdout, '✓ removed: resolver configuration');
  t.match(down.stdout, '✓ removed: relay pod, ConfigMap and Secret');
  t.same(await snapshot(cluster, kvpn, [pid]), before, 'nothing remains after a crash either');
});
