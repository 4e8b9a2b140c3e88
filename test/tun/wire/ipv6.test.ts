import t from 'tap';
import { WireError } from '../../../src/tun/wire/error.js';
import { findUpperLayer, Ipv6Packet, Ipv6Repr } from '../../../src/tun/wire/ipv6.js';
import { hex, V6_LOCAL, V6_TCP_SYN } from './fixtures.js';

t.test('deconstruct the captured IPv6 SYN header', async (t) => {
  const p = new Ipv6Packet(V6_TCP_SYN);
  t.equal(p.checkLen(), 0);
  t.equal(p.version, 6);
  t.equal(p.trafficClass, 0);
  t.equal(p.flowLabel, 0xa9157);
  t.equal(p.payloadLen, 40);
  t.equal(p.nextHeader, 6);
  t.equal(p.hopLimit, 64);
  t.same([...p.srcAddr], [...V6_LOCAL]);
  t.equal(p.payload.length, 40);
});

t.test('parse and emit (flow label is not kept: we emit 0)', async (t) => {
  const repr = Ipv6Repr.parse(new Ipv6Packet(V6_TCP_SYN));
  if (typeof repr === 'number') throw new Error('parse failed');
  t.equal(repr.nextHeader, 6);
  t.equal(repr.payloadOffset, 40);
  t.equal(repr.payloadLen, 40);
  const out = new Uint8Array(40);
  repr.emit(new Ipv6Packet(out));
  const expected = V6_TCP_SYN.slice(0, 40);
  expected.set([0x60, 0, 0, 0], 0);
  t.same(Buffer.from(out).toString('hex'), Buffer.from(expected).toString('hex'));
});

t.test('truncated', async (t) => {
  for (const n of [0, 1, 39]) t.equal(new Ipv6Packet(V6_TCP_SYN.subarray(0, n)).checkLen(), WireError.Truncated);
  t.equal(new Ipv6Packet(V6_TCP_SYN.subarray(0, 79)).checkLen(), WireError.Truncated);
  const bad = V6_TCP_SYN.slice();
  bad[0] = 0x40;
  t.equal(Ipv6Repr.parse(new Ipv6Packet(bad)), WireError.Malformed);
});

t.test('extension headers are walked; fragments unsupported', async (t) => {
  // Hop-by-hop (8 bytes: next=TCP(6), len 0, PadN) in front of the SYN's TCP header.
  const tcp = V6_TCP_SYN.subarray(40);
  const pkt = new Uint8Array(48 + tcp.length);
  pkt.set(V6_TCP_SYN.subarray(0, 40));
  pkt[5] = 48;
  pkt[6] = 0;
  pkt.set(hex('0600010400000000'), 40);
  pkt.set(tcp, 48);
  const repr = Ipv6Repr.parse(new Ipv6Packet(pkt));
  if (typeof repr === 'number') throw new Error('parse failed');
  t.equal(repr.nextHeader, 6);
  t.equal(repr.payloadOffset, 48);
  t.equal(repr.payloadLen, 40);
  pkt[6] = 44;
  t.equal(Ipv6Repr.parse(new Ipv6Packet(pkt)), WireError.Unsupported);
  pkt[6] = 0;
  pkt[41] = 9; // runs past the payload
  t.equal(-findUpperLayer(pkt), WireError.Truncated);
});
