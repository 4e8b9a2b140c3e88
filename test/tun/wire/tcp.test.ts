import t from 'tap';
import { WireError } from '../../../src/tun/wire/error.js';
import { TcpControl, TcpFlag, TcpPacket, TcpRepr } from '../../../src/tun/wire/tcp.js';
import { hex, V4_LOCAL, V4_TCP_DATA, V4_TCP_FIN, V4_TCP_SYN, V6_LOCAL, V6_TCP_DATA, V6_TCP_SYN } from './fixtures.js';

const tcpOf = (ip: Uint8Array, ipLen: number) => ip.slice(ipLen);
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

t.test('deconstruct the captured SYN', async (t) => {
  const p = new TcpPacket(tcpOf(V4_TCP_SYN, 20));
  t.equal(p.checkLen(), 0);
  t.equal(p.srcPort, 45558);
  t.equal(p.dstPort, 5555);
  t.equal(p.seqNumber, 0x0c8563b5);
  t.equal(p.ackNumber, 0);
  t.equal(p.headerLen, 40);
  t.equal(p.flags, TcpFlag.SYN);
  t.equal(p.windowLen, 0xffd7);
  t.equal(p.urgentPointer, 0);
  t.equal(p.payloadLen, 0);
  t.equal(p.segmentLen, 1);
  t.equal(p.options.length, 20);
  t.ok(p.verifyChecksum(V4_LOCAL, V4_LOCAL));
});

t.test('parse the SYN options: MSS, SACK-permitted, timestamps, window scale', async (t) => {
  const r = TcpRepr.parse(new TcpPacket(tcpOf(V4_TCP_SYN, 20)), V4_LOCAL, V4_LOCAL);
  if (typeof r === 'number') throw new Error(`parse failed ${r}`);
  t.equal(r.control, TcpControl.Syn);
  t.equal(r.hasAck, false);
  t.equal(r.maxSegSize, 65495);
  t.equal(r.windowScale, 10);
  t.equal(r.sackPermitted, true);
  t.equal(r.hasTimestamp, true);
  t.equal(r.tsVal, 0xd6721196);
  t.equal(r.tsEcr, 0);
  t.equal(r.segmentLen, 1);
});

t.test('construct: the SYN, the data segment and the FIN are emitted byte-exact', async (t) => {
  for (const [name, ip] of [
    ['syn', V4_TCP_SYN],
    ['data', V4_TCP_DATA],
    ['fin', V4_TCP_FIN],
  ] as const) {
    const seg = tcpOf(ip, 20);
    const r = TcpRepr.parse(new TcpPacket(seg), V4_LOCAL, V4_LOCAL);
    if (typeof r === 'number') throw new Error(`${name}: parse failed ${r}`);
    t.equal(r.bufferLen, seg.length, `${name} length`);
    const out = new Uint8Array(r.bufferLen);
    r.emit(new TcpPacket(out), V4_LOCAL, V4_LOCAL, seg.subarray(r.payloadOffset));
    t.equal(toHex(out), toHex(seg), name);
  }
});

t.test('IPv6 segments parse and re-emit with the v6 pseudo-header', async (t) => {
  for (const ip of [V6_TCP_SYN, V6_TCP_DATA]) {
    const seg = tcpOf(ip, 40);
    const r = TcpRepr.parse(new TcpPacket(seg), V6_LOCAL, V6_LOCAL);
    if (typeof r === 'number') throw new Error(`parse failed ${r}`);
    const out = new Uint8Array(r.bufferLen);
    r.emit(new TcpPacket(out), V6_LOCAL, V6_LOCAL, seg.subarray(r.payloadOffset));
    t.equal(toHex(out), toHex(seg));
  }
  const data = TcpRepr.parse(new TcpPacket(tcpOf(V6_TCP_DATA, 40)), V6_LOCAL, V6_LOCAL) as TcpRepr;
  t.equal(data.control, TcpControl.Psh);
  t.equal(data.payloadLen, 5);
  t.equal(Buffer.from(tcpOf(V6_TCP_DATA, 40).subarray(data.payloadOffset)).toString(), 'hello');
});

t.test('truncated and malformed', async (t) => {
  const seg = tcpOf(V4_TCP_SYN, 20);
  for (const n of [0, 1, 19]) t.equal(new TcpPacket(seg.subarray(0, n)).checkLen(), WireError.Truncated);
  t.equal(new TcpPacket(seg.subarray(0, 39)).checkLen(), WireError.Truncated, 'options cut short');
  const lowOffset = seg.slice();
  lowOffset[12] = 0x40;
  t.equal(new TcpPacket(lowOffset).checkLen(), WireError.Malformed);
  t.equal(TcpRepr.parse(new TcpPacket(seg.slice()), V4_LOCAL, hex('7f000002')), WireError.Checksum);
});

t.test('illegal flag combinations die at parse', async (t) => {
  const seg = tcpOf(V4_TCP_DATA, 20);
  for (const flags of [TcpFlag.SYN | TcpFlag.FIN, TcpFlag.SYN | TcpFlag.RST, TcpFlag.FIN | TcpFlag.RST]) {
    const b = seg.slice();
    b[13] = flags | TcpFlag.ACK;
    t.equal(
      TcpRepr.parse(new TcpPacket(b), V4_LOCAL, V4_LOCAL, { verifyChecksum: false }),
      WireError.Malformed,
      `flags ${flags}`,
    );
  }
  const b = seg.slice();
  b[13] = TcpFlag.FIN | TcpFlag.PSH | TcpFlag.ACK;
  const r = TcpRepr.parse(new TcpPacket(b), V4_LOCAL, V4_LOCAL, { verifyChecksum: false }) as TcpRepr;
  t.equal(r.control, TcpControl.Fin, 'FIN+PSH folds to FIN');
});

t.test('malformed options: zero length, overrun, wrong fixed lengths', async (t) => {
  const base = tcpOf(V4_TCP_SYN, 20);
  const withOptions = (opts: string) => {
    const b = base.slice();
    b.set(hex(opts.padEnd(40, '0')), 20);
    return TcpRepr.parse(new TcpPacket(b), V4_LOCAL, V4_LOCAL, { verifyChecksum: false });
  };
  t.equal(withOptions('0200'), WireError.Malformed, 'length 0');
  t.equal(withOptions('010101010101010101010101010101010101fe09'), WireError.Malformed, 'overrun');
  t.equal(withOptions('020500000000'), WireError.Malformed, 'MSS length 5');
  t.equal(withOptions('02040000'), WireError.Malformed, 'MSS 0');
  t.equal(withOptions('0304ff00'), WireError.Malformed, 'WS length 4');
  t.equal(withOptions('05090000000100000002'), WireError.Malformed, 'SACK length must be 8n+2');
  const ws = withOptions('030320') as TcpRepr;
  t.equal(ws.windowScale, 14, 'shift clamped to 14 (RFC 7323 §2.3)');
  const unknown = withOptions('fe0400000204ffff') as TcpRepr;
  t.equal(unknown.maxSegSize, 0xffff, 'unknown option skipped by its length');
});

t.test('SACK blocks parse and emit', async (t) => {
  const r = new TcpRepr();
  r.srcPort = 1;
  r.dstPort = 2;
  r.hasAck = true;
  r.ackNumber = 1000;
  r.sackCount = 2;
  r.sackRanges.set([2000, 3000, 4000, 5000]);
  const out = new Uint8Array(r.bufferLen);
  r.emit(new TcpPacket(out), V4_LOCAL, V4_LOCAL);
  const back = TcpRepr.parse(new TcpPacket(out), V4_LOCAL, V4_LOCAL) as TcpRepr;
  t.equal(back.sackCount, 2);
  t.same([...back.sackRanges.subarray(0, 4)], [2000, 3000, 4000, 5000]);
  t.equal(back.control, TcpControl.None);
});
