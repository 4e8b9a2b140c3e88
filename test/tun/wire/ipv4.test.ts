import t from 'tap';
import { WireError } from '../../../src/tun/wire/error.js';
import { Ipv4Packet, Ipv4Repr } from '../../../src/tun/wire/ipv4.js';
import { V4_LOCAL, V4_TCP_SYN, V4_TCP_SYN_ACK } from './fixtures.js';

t.test('deconstruct the captured SYN header', async (t) => {
  const p = new Ipv4Packet(V4_TCP_SYN);
  t.equal(p.checkLen(), 0);
  t.equal(p.version, 4);
  t.equal(p.headerLen, 20);
  t.equal(p.totalLen, 60);
  t.equal(p.ident, 0xf6f2);
  t.ok(p.dontFrag);
  t.notOk(p.moreFrags);
  t.equal(p.fragOffset, 0);
  t.equal(p.hopLimit, 64);
  t.equal(p.protocol, 6);
  t.equal(p.checksum, 0x45c7);
  t.same([...p.srcAddr], [127, 0, 0, 1]);
  t.equal(p.payloadLen, 40);
  t.ok(p.verifyChecksum());
});

t.test('parse gives the Repr; emit reproduces the kernel SYN-ACK header (ident 0)', async (t) => {
  const repr = Ipv4Repr.parse(new Ipv4Packet(V4_TCP_SYN_ACK));
  if (typeof repr === 'number') throw new Error(`parse failed ${repr}`);
  t.same([...repr.srcAddr], [...V4_LOCAL]);
  t.equal(repr.protocol, 6);
  t.equal(repr.payloadLen, 40);
  const out = new Uint8Array(20);
  repr.emit(new Ipv4Packet(out));
  t.same(Buffer.from(out).toString('hex'), Buffer.from(V4_TCP_SYN_ACK.subarray(0, 20)).toString('hex'));
  t.equal(repr.bufferLen, 20);
});

t.test('truncated and malformed headers are refused without throwing', async (t) => {
  for (let n = 0; n < 20; n++)
    t.equal(new Ipv4Packet(V4_TCP_SYN.subarray(0, n)).checkLen(), WireError.Truncated, `len ${n}`);
  t.equal(new Ipv4Packet(V4_TCP_SYN.subarray(0, 59)).checkLen(), WireError.Truncated, 'total length beyond buffer');
  const badIhl = V4_TCP_SYN.slice();
  badIhl[0] = 0x44;
  t.equal(new Ipv4Packet(badIhl).checkLen(), WireError.Malformed);
  const badTotal = V4_TCP_SYN.slice();
  badTotal[3] = 10;
  t.equal(new Ipv4Packet(badTotal).checkLen(), WireError.Malformed);
  const badVersion = V4_TCP_SYN.slice();
  badVersion[0] = 0x65;
  t.equal(Ipv4Repr.parse(new Ipv4Packet(badVersion)), WireError.Malformed);
  const badSum = V4_TCP_SYN.slice();
  badSum[15] = 2;
  t.equal(Ipv4Repr.parse(new Ipv4Packet(badSum)), WireError.Checksum);
  t.type(Ipv4Repr.parse(new Ipv4Packet(badSum), { verifyChecksum: false }), Ipv4Repr);
});

t.test('fragments are unsupported', async (t) => {
  const frag = V4_TCP_SYN.slice();
  frag[6] = 0x20; // MF
  const p = new Ipv4Packet(frag);
  p.fillChecksum();
  t.ok(p.moreFrags);
  t.equal(Ipv4Repr.parse(p), WireError.Unsupported);
});

t.test('padding after total length is ignored', async (t) => {
  const padded = new Uint8Array(V4_TCP_SYN.length + 6);
  padded.set(V4_TCP_SYN);
  const p = new Ipv4Packet(padded);
  t.equal(p.checkLen(), 0);
  t.equal(p.payload.length, 40);
});
