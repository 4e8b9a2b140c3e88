// A cluster whose domain is not cluster.local: the test world started with
// --cluster-domain corp.internal (its cluster DNS, the pods' resolv.conf and
// every name use it), then `kvpn up` as a new user would, and dig and curl
// from the laptop by the full name and the short ones.
// Regression: the session assumed cluster.local, so such a cluster got wrong search domains and no names at all.
import t from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { SessionStatus } from '../../src/session/types.js';
import { kvpnIn, laptop } from './helpers/kvpn.js';
import { onEachWorld } from './helpers/worlds.js';

const DOMAIN = 'corp.internal';
await onEachWorld(t, { clusterDomain: DOMAIN }, async (t, cluster) => {
  t.test('the world runs with the other domain', async (t) => {
    t.equal(cluster.clusterDomain, DOMAIN);
    const echoPod = (await cluster.pods({ app: 'echo' }, 'default'))[0]?.metadata.name as string;
    // The real kubelet's file comes through its exec; the stand-in's pod netns carries it.
    const conf =
      cluster.kind === 'real'
        ? await cluster.kubectl(['exec', echoPod, '--', 'cat', '/etc/resolv.conf'], { context: 'admin' })
        : await cluster.execInPod(echoPod, 'default', 'cat', ['/etc/resolv.conf']);
    t.match(conf.stdout, `search default.svc.${DOMAIN} svc.${DOMAIN} ${DOMAIN}`, "the kubelet's pod resolv.conf");
    const dns = `@${cluster.dnsServiceIp}`;
    const inPod = await cluster.execInPod(echoPod, 'default', 'dig', ['+short', dns, `echo.default.svc.${DOMAIN}`]);
    t.equal(inPod.stdout.trim(), await cluster.serviceIp('echo'), 'the cluster DNS answers the zone');
    const ptr = await cluster.execInPod(echoPod, 'default', 'dig', ['+short', dns, '-x', '10.96.0.1']);
    t.equal(ptr.stdout.trim(), `kubernetes.default.svc.${DOMAIN}.`, 'and the PTR kvpn asks for the domain');
  });

  t.test('kvpn detects the domain: full and short names resolve with dig and curl', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    const up = await kvpn.run(['up', '--context', 'staging']);
    t.equal(up.code, EXIT.OK, up.stderr);
    t.match(up.stdout, `try \`curl http://SERVICE.default.svc.${DOMAIN}/\``, 'the hint names the real domain');
    const echoIp = await cluster.serviceIp('echo');

    const full = await laptop(cluster, 'dig', ['+short', `echo.default.svc.${DOMAIN}`]);
    t.equal(full.stdout.trim(), echoIp, `dig echo.default.svc.${DOMAIN}`);
    // dig searches only names with fewer dots than ndots (1 here): echo.default needs +ndots=2.
    for (const [name, ndots] of [
      ['echo', 1],
      ['echo.default', 2],
    ] as const) {
      const short = await laptop(cluster, 'dig', ['+short', '+search', `+ndots=${ndots}`, name]);
      t.equal(short.stdout.trim(), echoIp, `dig +search ${name}: the search domains follow the domain`);
    }
    // glibc tries echo.default as it is first (kvpn answers NXDOMAIN at once), then the search list.
    const [address, canonical] = (await laptop(cluster, 'getent', ['hosts', 'echo.default'])).stdout
      .trim()
      .split(/\s+/);
    t.same([address, canonical], [echoIp, `echo.default.svc.${DOMAIN}`], 'getent hosts echo.default');
    for (const url of [`http://echo.default.svc.${DOMAIN}/`, 'http://echo.default/', 'http://echo/']) {
      const curl = await laptop(cluster, 'curl', ['-sS', '-m', '10', url]);
      t.match(curl.stdout, /^echo-/, `curl ${url}: ${curl.stderr}`);
    }
    const wrong = await laptop(cluster, 'dig', ['+short', 'echo.default.svc.cluster.local']);
    t.equal(wrong.stdout.trim(), '', 'cluster.local is not this cluster');

    const resolvConf = await laptop(cluster, 'cat', [cluster.laptopResolvConf]);
    t.match(resolvConf.stdout, `search default.svc.${DOMAIN} svc.${DOMAIN} ${DOMAIN}`);
    const status = await kvpn.run(['status', '--json']);
    t.equal(status.code, EXIT.OK, status.stderr);
    const s = (JSON.parse(status.stdout) as { sessions: SessionStatus[] }).sessions[0] as SessionStatus;
    t.same(s.dns.clusterDomain, DOMAIN, 'status --json: the detected domain');
    t.same(s.dns.searchDomains, [`default.svc.${DOMAIN}`, `svc.${DOMAIN}`, DOMAIN]);
    t.same(s.warnings, [], 'detected, not assumed');
    const human = await kvpn.run(['status']);
    t.match(human.stdout, `domain ${DOMAIN}, search default.svc.${DOMAIN}`);

    const down = await kvpn.run(['down']);
    t.equal(down.code, EXIT.OK, down.stderr);
  });
});
