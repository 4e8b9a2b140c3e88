// Cluster domain detection: the PTR of the kubernetes Service's address,
// asked of the cluster DNS through the Dialer; and a pod's resolv.conf.
import t from 'tap';
import { detectClusterDomain } from '../../src/dns/cluster-domain.js';
import { createClusterForwarder } from '../../src/dns/cluster-forwarder.js';
import { clusterDnsFromPodResolvConf, parseResolvConf } from '../../src/dns/resolv-conf.js';
import { DnsServer } from '../../src/dns/server.js';
import { buildZone } from '../../src/dns/zone.js';
import { LoopbackDialer } from './fake-dns.js';
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
    'tries each in turn',
  );
});

t.test('a pod resolv.conf gives the cluster DNS address and domain', async (t) => {
  const pod = 'search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n';
  t.same(clusterDnsFromPodResolvConf(pod), { nameservers: ['10.96.0.10'], clusterDomain: 'cluster.local' });
  t.same(clusterDnsFromPodResolvConf('nameserver 10.0.0.10\n'), {
    nameservers: ['10.0.0.10'],
    clusterDomain: undefined,
  });
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
