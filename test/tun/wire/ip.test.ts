import t from 'tap';
import { IpProtocol, ipVersion } from '../../../src/tun/wire/ip.js';
import { Ipv4Packet } from '../../../src/tun/wire/ipv4.js';
import { Ipv6Packet } from '../../../src/tun/wire/ipv6.js';
import * as fx from './fixtures.js';

t.test('the version nibble tells the kernel-captured packets apart; no bytes is version 0', async (t) => {
  t.equal(ipVersion(fx.V4_TCP_SYN), 4);
  t.equal(ipVersion(fx.V6_TCP_SYN), 6);
  t.equal(ipVersion(new Uint8Array(0)), 0);
  t.equal(ipVersion(Uint8Array.of(0x55)), 5);
});

t.test('the protocol table names what the kernel wrote in the protocol / next-header field', async (t) => {
  const v4 = (p: Uint8Array) => new Ipv4Packet(p).protocol;
  const v6 = (p: Uint8Array) => new Ipv6Packet(p).nextHeader;
  t.equal(v4(fx.V4_TCP_SYN), IpProtocol.Tcp);
  t.equal(v4(fx.V4_UDP), IpProtocol.Udp);
  t.equal(v4(fx.V4_ICMP_ECHO_REQUEST), IpProtocol.Icmp);
  t.equal(v6(fx.V6_TCP_SYN), IpProtocol.Tcp);
  t.equal(v6(fx.V6_UDP), IpProtocol.Udp);
  t.equal(v6(fx.V6_ICMP_ECHO_REQUEST), IpProtocol.Icmpv6);
  // RFC 8200 §4.1 and IANA: the extension headers the stack walks or refuses.
  t.same(
    [IpProtocol.HopByHop, IpProtocol.Ipv6Routing, IpProtocol.Ipv6Fragment, IpProtocol.Ipv6DestOptions],
    [0, 43, 44, 60],
  );
});
