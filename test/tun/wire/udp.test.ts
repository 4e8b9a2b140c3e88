import t from 'tap';
import { WireError } from '../../../src/tun/wire/error.js';
import { UdpPacket, UdpRepr } from '../../../src/tun/wire/udp.js';
import { V4_LOCAL, V4_UDP, V6_LOCAL, V6_UDP } from './fixtures.js';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

t.test('deconstruct and parse the captured datagrams', async (t) => {
  const p = new UdpPacket(V4_UDP.slice(20));
  t.equal(p.checkLen(), 0);
  t.equal(p.srcPort, 36231);
  t.equal(p.dstPort, 5353);
  t.equal(p.len, 12);
  t.equal(Buffer.from(p.payload).toString(), 'udp!');
  t.ok(p.verifyChecksum(V4_LOCAL, V4_LOCAL));
  const r6 = UdpRepr.parse(new UdpPacket(V6_UDP.slice(40)), V6_LOCAL, V6_LOCAL);
  if (typeof r6 === 'number') throw new Error('parse failed');
  t.equal(r6.payloadLen, 4);
});

t.test('construct byte-exact', async (t) => {
  for (const [ip, off, addr] of [
    [V4_UDP, 20, V4_LOCAL],
    [V6_UDP, 40, V6_LOCAL],
  ] as const) {
    const seg = ip.slice(off);
    const r = UdpRepr.parse(new UdpPacket(seg), addr, addr) as UdpRepr;
    const out = new Uint8Array(r.bufferLen);
    r.emit(new UdpPacket(out), addr, addr, seg.subarray(8));
    t.equal(toHex(out), toHex(seg));
  }
});

t.test('truncated, malformed, checksum rules per family', async (t) => {
  const seg = V4_UDP.slice(20);
  t.equal(new UdpPacket(seg.subarray(0, 7)).checkLen(), WireError.Truncated);
  t.equal(new UdpPacket(seg.subarray(0, 11)).checkLen(), WireError.Truncated);
  const short = seg.slice();
  short[5] = 4;
  t.equal(new UdpPacket(short).checkLen(), WireError.Malformed);
  const noSum = seg.slice();
  noSum[6] = 0;
  noSum[7] = 0;
  t.type(UdpRepr.parse(new UdpPacket(noSum), V4_LOCAL, V4_LOCAL), UdpRepr, 'v4 zero checksum = none');
  t.equal(UdpRepr.parse(new UdpPacket(noSum), V6_LOCAL, V6_LOCAL), WireError.Malformed, 'v6 zero checksum illegal');
  const bad = seg.slice();
  bad[9] = (bad[9] as number) ^ 0xff;
  t.equal(UdpRepr.parse(new UdpPacket(bad), V4_LOCAL, V4_LOCAL), WireError.Checksum);
});
