import t from 'tap';
import { WireError } from '../../../src/tun/wire/error.js';
import { Icmpv4Packet, Icmpv4Repr, Icmpv4Type } from '../../../src/tun/wire/icmpv4.js';
import { Icmpv6Packet, Icmpv6Repr } from '../../../src/tun/wire/icmpv6.js';
import {
  V4_ICMP_ECHO_REPLY,
  V4_ICMP_ECHO_REQUEST,
  V4_ICMP_PORT_UNREACHABLE,
  V4_UDP,
  V6_ICMP_ECHO_REPLY,
  V6_ICMP_ECHO_REQUEST,
  V6_ICMP_PORT_UNREACHABLE,
  V6_LOCAL,
} from './fixtures.js';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

t.test('ICMPv4 echo: deconstruct, parse, and the reply we build equals the kernel reply', async (t) => {
  const p = new Icmpv4Packet(V4_ICMP_ECHO_REQUEST.slice(20));
  t.equal(p.checkLen(), 0);
  t.equal(p.msgType, Icmpv4Type.EchoRequest);
  t.equal(p.echoIdent, 0x1234);
  t.equal(p.echoSeqNo, 1);
  t.ok(p.verifyChecksum());
  const req = Icmpv4Repr.parse(p) as Icmpv4Repr;
  t.equal(req.kind, 'echo-request');
  const reply = new Icmpv4Repr({ kind: 'echo-reply', ident: req.ident, seqNo: req.seqNo, data: req.data });
  const out = new Uint8Array(reply.bufferLen);
  reply.emit(new Icmpv4Packet(out));
  t.equal(toHex(out), toHex(V4_ICMP_ECHO_REPLY.subarray(20)));
});

t.test('ICMPv4 port unreachable quotes the datagram', async (t) => {
  const r = Icmpv4Repr.parse(new Icmpv4Packet(V4_ICMP_PORT_UNREACHABLE.slice(20))) as Icmpv4Repr;
  t.equal(r.kind, 'dst-unreachable');
  t.equal(r.code, 3);
  t.equal(toHex(r.data.subarray(0, 28).subarray(0, 20)), toHex(V4_UDP.subarray(0, 20)));
  const out = new Uint8Array(r.bufferLen);
  r.emit(new Icmpv4Packet(out));
  t.equal(toHex(out), toHex(V4_ICMP_PORT_UNREACHABLE.subarray(20)));
});

t.test('ICMPv4 truncated, bad checksum, unsupported type, bad echo code', async (t) => {
  t.equal(new Icmpv4Packet(new Uint8Array(7)).checkLen(), WireError.Truncated);
  const bad = V4_ICMP_ECHO_REQUEST.slice(20);
  bad[9] = (bad[9] as number) ^ 1;
  t.equal(Icmpv4Repr.parse(new Icmpv4Packet(bad)), WireError.Checksum);
  const ts = V4_ICMP_ECHO_REQUEST.slice(20);
  ts[0] = 13;
  new Icmpv4Packet(ts).fillChecksum();
  t.equal(Icmpv4Repr.parse(new Icmpv4Packet(ts)), WireError.Unsupported);
  const code = V4_ICMP_ECHO_REQUEST.slice(20);
  code[1] = 1;
  new Icmpv4Packet(code).fillChecksum();
  t.equal(Icmpv4Repr.parse(new Icmpv4Packet(code)), WireError.Malformed);
});

t.test('ICMPv6 echo and port unreachable round-trip with the pseudo-header', async (t) => {
  const req = Icmpv6Repr.parse(new Icmpv6Packet(V6_ICMP_ECHO_REQUEST.slice(40)), V6_LOCAL, V6_LOCAL) as Icmpv6Repr;
  t.equal(req.kind, 'echo-request');
  t.equal(req.ident, 0x1234);
  const reply = new Icmpv6Repr({ kind: 'echo-reply', ident: req.ident, seqNo: req.seqNo, data: req.data });
  const out = new Uint8Array(reply.bufferLen);
  reply.emit(new Icmpv6Packet(out), V6_LOCAL, V6_LOCAL);
  t.equal(toHex(out), toHex(V6_ICMP_ECHO_REPLY.subarray(40)));
  const unreach = Icmpv6Repr.parse(
    new Icmpv6Packet(V6_ICMP_PORT_UNREACHABLE.slice(40)),
    V6_LOCAL,
    V6_LOCAL,
  ) as Icmpv6Repr;
  t.equal(unreach.kind, 'dst-unreachable');
  t.equal(unreach.code, 4);
  const out2 = new Uint8Array(unreach.bufferLen);
  unreach.emit(new Icmpv6Packet(out2), V6_LOCAL, V6_LOCAL);
  t.equal(toHex(out2), toHex(V6_ICMP_PORT_UNREACHABLE.subarray(40)));
});

t.test('ICMPv6 neighbor discovery parses as other; bad checksum refused', async (t) => {
  const rs = new Uint8Array(8);
  rs[0] = 133;
  new Icmpv6Packet(rs).fillChecksum(V6_LOCAL, V6_LOCAL);
  const r = Icmpv6Repr.parse(new Icmpv6Packet(rs), V6_LOCAL, V6_LOCAL) as Icmpv6Repr;
  t.equal(r.kind, 'other');
  t.equal(r.msgType, 133);
  rs[4] = 1;
  t.equal(Icmpv6Repr.parse(new Icmpv6Packet(rs), V6_LOCAL, V6_LOCAL), WireError.Checksum);
  t.equal(new Icmpv6Packet(new Uint8Array(3)).checkLen(), WireError.Truncated);
});
