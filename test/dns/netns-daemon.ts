// A stand-in for the kvpn daemon's DNS part, run inside a test network
// namespace (`ip netns exec`): it applies SystemDns to the namespace's
// resolv.conf, serves the shop fixture zone on <address>:53 and forwards
// other names to the original servers; its first line carries the
// ResolverRecord that undoes the change (kvpn keeps it in the session
// journal). Role "upstream" is the machine's own resolver on 127.0.0.1:53
// (knows example.test, and poisons web.shop so a leak would show). Talks
// JSON lines: stdin "stats" / "down".
import { createInterface } from 'node:readline';
import { namespaceSearchDomains } from '../../src/dns/resolv-conf.js';
import { DnsServer } from '../../src/dns/server.js';
import { createSystemDns } from '../../src/dns/system-dns.js';
import { buildZone } from '../../src/dns/zone.js';
import { startFakeDns } from './fake-dns.js';
import { shopCluster } from './fixtures.js';

const [role, json] = process.argv.slice(2);
const config = JSON.parse(json ?? '{}') as { resolvConfPath: string; stateDir: string; address: string };
const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const lines = createInterface({ input: process.stdin });

if (role === 'upstream') {
  const fake = await startFakeDns(
    (name, type) => {
      if (name.endsWith('example.test') && type === 'A')
        return { answers: [{ name, type: 'A', ttl: 60, data: '192.0.2.80' }] };
      if (name === 'web.shop' && type === 'A') return { answers: [{ name, type: 'A', ttl: 60, data: '203.0.113.66' }] };
      return { rcode: 'NXDOMAIN' };
    },
    { host: '127.0.0.1', port: 53 },
  );
  say({ ready: true });
  lines.on('line', (line) => line === 'stats' && say({ asked: fake.asked }));
  lines.on('close', () => process.exit(0));
} else if (role === 'apply-only') {
  const system = createSystemDns({
    resolvConfPath: config.resolvConfPath,
    stateDir: config.stateDir,
    mode: 'resolvconf',
  });
  const record = await system.record('kvpn0');
  await system.apply({
    serverAddress: config.address,
    linkName: 'kvpn0',
    clusterDomain: 'cluster.local',
    searchDomains: [],
  });
  say({ ready: true, record });
  lines.on('close', () => process.exit(0));
} else {
  const system = createSystemDns({
    resolvConfPath: config.resolvConfPath,
    stateDir: config.stateDir,
    mode: 'resolvconf',
  });
  const record = await system.record('kvpn0');
  const applied = await system.apply({
    serverAddress: config.address,
    linkName: 'kvpn0',
    clusterDomain: 'cluster.local',
    searchDomains: namespaceSearchDomains('shop', 'cluster.local'),
  });
  const server = new DnsServer({ records: { zone: buildZone({ clusterDomain: 'cluster.local', ...shopCluster() }) } });
  server.setUpstreams(applied.upstreams);
  await server.listenUdp(config.address, 53);
  await server.listenTcp(config.address, 53);
  say({ ready: true, applied, record });
  lines.on('line', async (line) => {
    if (line === 'stats') say({ stats: server.stats() });
    if (line === 'down') {
      await server.close();
      say({ down: await system.restore(record) });
      process.exit(0);
    }
  });
}
