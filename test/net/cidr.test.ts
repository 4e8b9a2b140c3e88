import t from 'tap';
import { containsCidr, formatCidr, merge, parseCidr, subtract, subtractAll } from '../../src/net/cidr.js';
import { formatIpNumber as formatIp, parseIpNumber as parseIp } from '../../src/net/ip.js';

const fmt = (list: ReturnType<typeof merge>) => list.map(formatCidr);

t.test('IPv4 and IPv6 addresses parse and print canonically', async (t) => {
  t.equal(formatIp(4, parseIp('10.96.0.1').value), '10.96.0.1');
  t.equal(formatIp(6, parseIp('fd00:0:0:0::1').value), 'fd00::1');
  t.equal(formatIp(6, parseIp('2001:db8:0:0:1:0:0:1').value), '2001:db8::1:0:0:1', 'RFC 5952: first longest zero run');
  t.equal(formatIp(6, parseIp('::ffff:10.0.0.1').value), '::ffff:a00:1', 'embedded dotted quad');
  t.equal(formatIp(6, parseIp('::').value), '::');
  t.throws(() => parseIp('10.0.0.256'));
  t.throws(() => parseIp('example.com'));
});

t.test('CIDRs: host bits cleared, bare address is a host prefix, bad lengths refused', async (t) => {
  t.equal(formatCidr(parseCidr('10.96.3.4/12')), '10.96.0.0/12');
  t.equal(formatCidr(parseCidr('10.1.2.3')), '10.1.2.3/32');
  t.equal(formatCidr(parseCidr('fd00::1/64')), 'fd00::/64');
  t.throws(() => parseCidr('10.0.0.0/33'));
  t.throws(() => parseCidr('10.0.0.0/'));
  t.throws(() => parseCidr('10.0.0.0/8/1'));
  t.ok(containsCidr(parseCidr('10.96.0.0/12'), parseCidr('10.100.0.0/16')));
  t.notOk(containsCidr(parseCidr('10.96.0.0/12'), parseCidr('10.112.0.0/16')));
});

t.test('subtracting a host from a /16 leaves 16 prefixes covering everything else', async (t) => {
  const left = subtract(parseCidr('10.96.0.0/16'), parseCidr('10.96.0.1/32'));
  t.equal(left.length, 16);
  t.notOk(
    left.some((c) => containsCidr(c, parseCidr('10.96.0.1/32'))),
    'the hole is not covered',
  );
  const size = left.reduce((n, c) => n + 2 ** (32 - c.length), 0);
  t.equal(size, 2 ** 16 - 1, 'every other address is');
  t.same(fmt(subtract(parseCidr('10.0.0.0/8'), parseCidr('192.168.0.0/16'))), ['10.0.0.0/8'], 'disjoint: unchanged');
  t.same(subtract(parseCidr('10.1.0.0/16'), parseCidr('10.0.0.0/8')), [], 'swallowed whole');
});

t.test('merge drops contained prefixes and joins siblings', async (t) => {
  t.same(fmt(merge(['10.0.0.0/25', '10.0.0.128/25', '10.0.0.7/32', '10.0.1.0/24'].map(parseCidr))), ['10.0.0.0/23']);
  t.same(fmt(merge(['fd00::/65', 'fd00:0:0:0:8000::/65'].map(parseCidr))), ['fd00::/64']);
  const split = subtractAll([parseCidr('10.96.0.0/12')], [parseCidr('10.96.0.1/32')]);
  t.same(fmt(merge([...split, parseCidr('10.96.0.1/32')])), ['10.96.0.0/12'], 'a split range merges back');
});
