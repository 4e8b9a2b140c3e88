// Each session's TUN network: an IPv4 /30 and an IPv6 /126 per index, .1/::1
// the laptop, .2/::2 the DNS server, and the DNS address recognised in any
// spelling.
import t from 'tap';
import { dnsAddresses, isDnsAddress, MAX_SESSIONS, tunNetwork } from '../../src/session/tun-network.js';

t.test('session 0 and the last session: both families, side by side', async (t) => {
  t.same(tunNetwork(0), {
    device: 'kvpn0',
    index: 0,
    linkAddress: '198.18.0.1/30',
    subnet: '198.18.0.0/30',
    localAddress: '198.18.0.1',
    dnsAddress: '198.18.0.2',
    linkAddress6: 'fdc7:6b76:706e::1/126',
    subnet6: 'fdc7:6b76:706e::/126',
    localAddress6: 'fdc7:6b76:706e::1',
    dnsAddress6: 'fdc7:6b76:706e::2',
  });
  const last = tunNetwork(MAX_SESSIONS - 1, 'tun9');
  t.match(last, {
    device: 'tun9',
    subnet: '198.18.63.0/30',
    subnet6: 'fdc7:6b76:706e:3f::/126',
    localAddress6: 'fdc7:6b76:706e:3f::1',
  });
  t.same(dnsAddresses(last), ['198.18.63.2', 'fdc7:6b76:706e:3f::2']);
  t.throws(() => tunNetwork(MAX_SESSIONS), { message: 'session index 64' });
});

t.test('the DNS addresses, in any spelling; nothing else', async (t) => {
  const isDns = isDnsAddress(tunNetwork(1));
  for (const a of ['198.18.1.2', 'fdc7:6b76:706e:1::2', 'FDC7:6B76:706E:1:0:0:0:2']) t.ok(isDns(a), a);
  for (const a of ['198.18.1.1', 'fdc7:6b76:706e:1::1', 'fdc7:6b76:706e::2', 'not an address']) t.notOk(isDns(a), a);
});

t.test('the same answers when asked again, after many other destinations', async (t) => {
  const isDns = isDnsAddress(tunNetwork(1));
  t.ok(isDns('198.18.1.2'));
  const others = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  t.same(
    others.filter((a) => isDns(a)),
    [],
    'none of 1,000 other destinations',
  );
  t.ok(isDns('198.18.1.2'));
  t.ok(isDns('FDC7:6B76:706E:1:0:0:0:2'));
  t.notOk(isDns('10.0.0.1'));
});
