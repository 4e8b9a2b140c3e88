import t from 'tap';
import { formatIp, ipEquals, parseIp } from '../../src/net/ip.js';

t.test('IPv4 round trip and rejects', async (t) => {
  t.same([...(parseIp('10.200.0.1') ?? [])], [10, 200, 0, 1]);
  t.equal(formatIp(new Uint8Array([192, 168, 1, 254])), '192.168.1.254');
  for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4', 'a.b.c.d', '']) t.equal(parseIp(bad), null, bad);
});

t.test('IPv6 parse and RFC 5952 format', async (t) => {
  const cases: [string, string][] = [
    ['::1', '::1'],
    ['::', '::'],
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:DB8::a:0:0:0', '2001:db8:0:0:a::'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8'],
  ];
  for (const [input, canonical] of cases) {
    const a = parseIp(input);
    t.ok(a, input);
    if (a) t.equal(formatIp(a), canonical, input);
  }
  for (const bad of [':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1:2:3:4:5:6:7'])
    t.equal(parseIp(bad), null, bad);
});

t.test('equality compares family and bytes', async (t) => {
  t.ok(ipEquals(parseIp('10.0.0.1') as Uint8Array, new Uint8Array([10, 0, 0, 1])));
  t.notOk(ipEquals(parseIp('10.0.0.1') as Uint8Array, parseIp('::a00:1') as Uint8Array));
});
