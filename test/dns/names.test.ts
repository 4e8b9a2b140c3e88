// Name helpers: reverse names, dashed addresses, canonical IPv6 text,
// reverse zones of CIDRs.
import t from 'tap';
import { ancestors, canonicalIp, dashedIp, inZone, reverseName, reverseZonesOf } from '../../src/dns/names.js';

t.test('reverse names and dashed forms', async (t) => {
  t.equal(reverseName('10.96.0.10'), '10.0.96.10.in-addr.arpa');
  t.equal(reverseName('2001:db8::1'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  t.equal(reverseName('nope'), undefined);
  t.equal(dashedIp('10.244.1.5'), '10-244-1-5');
  t.equal(dashedIp('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001-db8--1');
  t.equal(canonicalIp('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'the first longest zero run');
  t.equal(canonicalIp('::ffff:10.0.0.1'), '::ffff:a00:1');
  t.equal(canonicalIp('1:2:3:4:5:6:7:8'), '1:2:3:4:5:6:7:8');
  t.equal(canonicalIp('fe80::1%eth0'), 'fe80::1');
  t.equal(canonicalIp('x'), undefined);
  t.ok(inZone('a.cluster.local', 'cluster.local'));
  t.notOk(inZone('acluster.local', 'cluster.local'));
  t.same(ancestors('a.b.cluster.local', 'cluster.local'), ['b.cluster.local', 'cluster.local']);
});

t.test('reverse zones covering CIDRs', async (t) => {
  t.same(reverseZonesOf('10.244.0.0/16'), ['244.10.in-addr.arpa']);
  t.same(reverseZonesOf('10.96.0.0/12').length, 16);
  t.equal(reverseZonesOf('10.96.0.0/12')[0], '96.10.in-addr.arpa');
  t.equal(reverseZonesOf('10.96.0.0/12')[15], '111.10.in-addr.arpa');
  t.same(reverseZonesOf('0.0.0.0/0'), ['in-addr.arpa']);
  t.same(reverseZonesOf('fd00:10:96::/112'), ['0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa']);
  t.equal(reverseZonesOf('fd00::/15').length, 2);
  t.same(reverseZonesOf('garbage'), []);
});
