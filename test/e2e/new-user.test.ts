// As a new user would: `kvpn up --context staging` (a user holding exactly
// the minimal Role of docs/rbac.md: the tunnel, no reads of Services,
// ServiceCIDRs or nodes), then curl, psql, dig, a pod IP and a UDP round
// trip from the laptop; `kvpn up` says what is degraded and which right
// would restore it; `kvpn status --json` shows the flows; `kvpn down`
// leaves nothing behind — and neither does `down` after kill -9. With the
// optional reads too (staging-reader), nothing is degraded.
import t from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { SessionStatus } from '../../src/session/types.js';
import { daemonPid, kvpnIn, laptop, snapshot, udpRoundTrip } from './helpers/kvpn.js';
import { onEachWorld } from './helpers/worlds.js';

await onEachWorld(t, {}, async (t, cluster) => {
  /** The /16 kvpn routes for a Service IP outside its guessed range (null: inside 10.96.0.0/16). */
  function coverOf(ip: string): string | null {
    return ip.startsWith('10.96.') ? null : `${ip.split('.').slice(0, 2).join('.')}.0.0/16`;
  }

  t.test('the tunnel Role alone: up, use the cluster from the laptop, status, down: nothing remains', async (t) => {
    // Broke against a real v1.34 cluster: `up` stopped with KVPN_ERR_API_FORBIDDEN on GET …/services.
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
      'CIDRs discovered: services 10.96.0.0/16 (well-known-services), pods 10.244.0.0/16 (pod-ips)',
      'no Service may be read: the range is guessed around the kubernetes and kube-dns Services',
    );
    t.match(
      up.stderr,
      /✓ first connection verified: TCP to (kubernetes\.default|kube-dns\.kube-system) \(10\.96\.0\.(1|10):(443|53)\) (connected|refused) \(the namespace's Services may not be listed\)/,
      "verified against the cluster's own Services",
    );
    t.match(
      up.stderr,
      '  ! degraded: Service range guessed as 10.96.0.0/16 around the kubernetes and cluster DNS Services: a Service outside it is routed once its name is resolved, not by its IP alone; restore with RBAC "create" on "services" in namespace "default" (docs/rbac.md)\n',
    );
    t.match(
      up.stderr,
      '  ! degraded: DNS: Service names in cluster.local are answered by the cluster DNS through the tunnel (a round trip each), not from a watch; restore with RBAC "list", "watch" on "services", "endpointslices.discovery.k8s.io" in namespace "default" (docs/rbac.md)\n',
    );
    t.equal(
      up.stderr.match(/! degraded:/g)?.length,
      2,
      'one line per degradation, nothing about nodes or ServiceCIDRs',
    );
    t.notMatch(up.stderr, 'KVPN_ERR_API_FORBIDDEN');
    t.match(up.stdout, /kvpn is up in [\d.]+s: this machine is now inside cluster "kvpn-test" \(context staging\)/);
    t.match(up.stdout, 'stop with   kvpn down --context staging');
    const pid = await daemonPid(kvpn);

    const full = await laptop(cluster, 'curl', ['-sS', '-m', '10', 'http://echo.default.svc.cluster.local/']);
    t.equal(full.code, 0, full.stderr);
    t.match(full.stdout, /^echo-/, 'the echo pod answered, by its Service FQDN (the cluster DNS, through the tunnel)');
    const short = await laptop(cluster, 'curl', ['-sS', '-m', '10', 'http://echo.default/']);
    t.match(short.stdout, /^echo-/, 'and by <service>.<namespace>');
    const psql = await laptop(cluster, 'psql', ['-h', 'postgres.default', '-U', 'postgres', '-At', '-c', 'select 1']);
    t.equal(psql.stdout.trim(), '1', `psql: ${psql.stderr}`);
    const echoIp = await cluster.serviceIp('echo');
    const dig = await laptop(cluster, 'dig', ['+short', 'echo.default.svc.cluster.local']);
    t.equal(dig.stdout.trim(), echoIp, 'dig through the system resolver');
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
      dns: { mode: 'resolvconf', server: '198.18.0.2' },
      relay: { connected: true, recreated: 0 },
      cidrSources: { service: 'well-known-services', pod: 'pod-ips' },
    });
    t.same(
      s.degradations.map((d) => d.restore),
      [
        { verbs: ['create'], resources: ['services'], namespace: 'default' },
        { verbs: ['list', 'watch'], resources: ['services', 'endpointslices.discovery.k8s.io'], namespace: 'default' },
      ],
      'status --json: what is degraded and the rule that restores it',
    );
    const postgresIp = await cluster.serviceIp('postgres');
    const learned = [...new Set([echoIp, postgresIp].map(coverOf).filter((c): c is string => c !== null))];
    for (const cidr of ['10.96.0.0/16', '10.244.0.0/16', ...learned])
      t.ok(
        s.routes.some((r) => r.cidr === cidr && r.source === (cidr.startsWith('10.244.') ? 'pod' : 'service')),
        `routed: ${cidr}`,
      );
    t.ok(s.traffic.tcpTotal >= 5, `TCP connections counted (${s.traffic.tcpTotal})`);
    t.ok(s.traffic.udpTotal >= 1, `UDP flows counted (${s.traffic.udpTotal})`);
    t.ok(s.traffic.bytesFromCluster > 0 && s.traffic.bytesToCluster > 0, 'bytes both ways');
    t.ok((s.dnsStats.forwardedCluster ?? 0) > 0, 'Service names went to the cluster DNS');
    const human = await kvpn.run(['status']);
    t.match(human.stdout, 'Session staging (running');
    t.match(human.stdout, '  degraded    Service range guessed as 10.96.0.0/16');
    t.match(human.stdout, '  degraded    DNS: Service names in cluster.local are answered by the cluster DNS');

    const down = await kvpn.run(['down']);
    t.equal(down.code, EXIT.OK, down.stderr);
    for (const item of [
      'route 10.96.0.0/16 dev kvpn0',
      ...learned.map((c) => `route ${c} dev kvpn0`),
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

  t.test(
    'with the optional reads too (staging-reader): exact ranges, local DNS answers, nothing degraded',
    async (t) => {
      const kvpn = kvpnIn(t, cluster);
      const before = await snapshot(cluster, kvpn);
      const up = await kvpn.run(['up', '--context', 'staging-reader']);
      t.equal(up.code, EXIT.OK, up.stderr);
      t.match(
        up.stderr,
        'CIDRs discovered: services 10.96.0.0/12 (invalid-clusterip), pods 10.244.0.0/16 (pod-ips)',
        'no ServiceCIDRs or nodes for a namespace Role, but the dry-run probe reads the exact Service range',
      );
      t.notMatch(up.stderr, 'degraded', 'nothing to report');
      const pid = await daemonPid(kvpn);
      const curl = await laptop(cluster, 'curl', ['-sS', '-m', '10', 'http://echo.default.svc.cluster.local/']);
      t.match(curl.stdout, /^echo-/, curl.stderr);
      const status = await kvpn.run(['status', '--json']);
      const s = (JSON.parse(status.stdout) as { sessions: SessionStatus[] }).sessions[0] as SessionStatus;
      t.same(s.degradations, []);
      t.ok((s.dnsStats.answeredLocally ?? 0) > 0, 'its namespace answered from the watches');
      t.equal(s.dnsStats.forwardedCluster, 0, 'no round trip to the cluster DNS for it');
      t.equal((await kvpn.run(['down'])).code, EXIT.OK);
      t.same(await snapshot(cluster, kvpn, [pid]), before, 'nothing remains');
    },
  );

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
});
