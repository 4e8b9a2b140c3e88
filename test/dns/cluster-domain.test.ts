// Cluster domain detection: the PTR of the kubernetes Service's address,
// asked of the cluster DNS through the Dialer; and resolv.conf parsing.
import t from 'tap';
import { detectClusterDomain } from '../../src/dns/cluster-domain.js';
import { createClusterForwarder } from '../../src/dns/cluster-forwarder.js';
import { parseResolvConf } from '../../src/dns/resolv-conf.js';
import { DnsServer } from '../../src/dns/server.js';
import { buildZone } from '../../src/dns/zone.js';
import { LoopbackDialer, startFakeDns } from './fake-dns.js';
import { service } from './fixtures.js';

t.test('the PTR of kubernetes.default names the domain, whatever it is', async (t) => {
  const zone = buildZone({
    clusterDomain: 'k8s.corp',
    services: [service('default', 'kubernetes', { clusterIP: '10.100.0.1', ports: [{ name: 'https', port: 443 }] })],
  });
  const clusterDns = new DnsServer({ records: { zone } });
  t.teardown(() => clusterDns.close());
  const port = (await clusterDns.listenTcp('127.0.0.1')).port;
  const forwarder = createClusterForwarder(new LoopbackDialer({ '10.100.0.10:53': port }), '10.100.0.10');
  t.teardown(() => forwarder.close());
  t.equal(await detectClusterDomain(forwarder, ['10.100.0.1']), 'k8s.corp');
  t.equal(
    await detectClusterDomain(forwarder, ['10.100.9.9']),
    undefined,
    'no PTR there: undefined (caller keeps the default)',
  );
  t.equal(
    await detectClusterDomain(forwarder, ['not-an-ip', '10.100.9.9', '10.100.0.1']),
    'k8s.corp',
    'asks each; the first in order with an answer wins',
  );
});

t.test('a cluster DNS that does not answer costs one timeout, not one per address', async (t) => {
  const silent = await startFakeDns(() => 'silent');
  t.teardown(() => silent.close());
  const forwarder = createClusterForwarder(new LoopbackDialer({ '10.100.0.10:53': silent.tcpPort }), '10.100.0.10', {
    timeoutMs: 500,
  });
  t.teardown(() => forwarder.close());
  const started = Date.now();
  t.equal(await detectClusterDomain(forwarder, ['10.100.0.1', '10.100.0.10', '10.101.0.1']), undefined);
  const took = Date.now() - started;
  t.ok(took < 1200, `asked at once: ${took} ms for three addresses with a 500 ms timeout`);
});

t.test('resolv.conf: last of search/domain wins, bad nameservers skipped, unknown lines kept', async (t) => {
  const conf = parseResolvConf(
    'domain a.example\n; comment\nnameserver fe80::1%eth0\nnameserver bogus\nsortlist 10.0.0.0/8\noptions edns0\noptions rotate\n',
  );
  t.same(conf, {
    nameservers: ['fe80::1%eth0'],
    search: ['a.example'],
    options: ['edns0', 'rotate'],
    other: ['sortlist 10.0.0.0/8'],
  });
});
