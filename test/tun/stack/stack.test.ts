// The edge without a kernel: a MemoryDevice plays the TUN, fake dialers
// play the far side. Routing, limits, TIME-WAIT recycling, UDP flows, ICMP.
import { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { parseIp } from '../../../src/net/ip.js';
import { type DatagramFlow, DialError, type Dialer } from '../../../src/tun/stack/dialer.js';
import { Stack, type StackOptions } from '../../../src/tun/stack/stack.js';
import { Icmpv4Packet, Icmpv4Repr } from '../../../src/tun/wire/icmpv4.js';
import { Icmpv6Packet, Icmpv6Repr } from '../../../src/tun/wire/icmpv6.js';
import { Ipv4Packet } from '../../../src/tun/wire/ipv4.js';
import {
  buildIcmpv4Packet,
  buildIcmpv6Packet,
  buildTcpPacket,
  buildUdpPacket,
} from '../../../src/tun/wire/packet-builder.js';
import { TcpControl, TcpFlag, TcpPacket, TcpRepr } from '../../../src/tun/wire/tcp.js';
import { UdpPacket } from '../../../src/tun/wire/udp.js';
import { MemoryDevice } from './memory-device.js';

const APP = parseIp('10.0.0.2') as Uint8Array;
const SVC = parseIp('10.200.0.5') as Uint8Array;
const OWN = parseIp('10.200.0.1') as Uint8Array;
const APP6 = parseIp('fd00:c9::1') as Uint8Array;
const OWN6 = parseIp('fd00:c8::1') as Uint8Array;
const turn = () => new Promise((r) => setImmediate(r));

function tcp(
  f: { sport?: number; dport?: number; seq?: number; ack?: number; flags: string },
  data?: string,
): Uint8Array {
  const r = new TcpRepr();
  r.srcPort = f.sport ?? 40000;
  r.dstPort = f.dport ?? 80;
  r.seqNumber = f.seq ?? 1000;
  r.hasAck = f.flags.includes('A');
  r.ackNumber = f.ack ?? 0;
  r.windowLen = 65535;
  r.control = f.flags.includes('S')
    ? TcpControl.Syn
    : f.flags.includes('F')
      ? TcpControl.Fin
      : f.flags.includes('R')
        ? TcpControl.Rst
        : TcpControl.None;
  return buildTcpPacket(APP, SVC, r, data ? Buffer.from(data) : null);
}

function parsed(pkt: Uint8Array): { flags: number; seq: number; ack: number; sport: number; dport: number } {
  const s = new TcpPacket(new Ipv4Packet(pkt).payload);
  return { flags: s.flags, seq: s.seqNumber, ack: s.ackNumber, sport: s.srcPort, dport: s.dstPort };
}

function world(t: Test, dialer: Dialer, options: StackOptions = {}) {
  const device = new MemoryDevice();
  const stack = new Stack(device, dialer, { addresses: ['10.200.0.1', 'fd00:c8::1'], ...options });
  stack.start();
  t.teardown(() => stack.close());
  return { device, stack };
}

const quietStream = () =>
  new Duplex({
    read() {},
    write(_c, _e, cb) {
      cb();
    },
  });

const connectAll: Dialer = {
  dialTcp: () => Promise.resolve(quietStream()),
  openUdp: () => Promise.reject(new DialError('error', 'no')),
};

t.test('echo requests to our own addresses are answered; others ignored', async (t) => {
  const { device, stack } = world(t, connectAll);
  const data = Buffer.from('ping!');
  device.inject([
    buildIcmpv4Packet(APP, OWN, new Icmpv4Repr({ kind: 'echo-request', ident: 7, seqNo: 1, data })),
    buildIcmpv6Packet(APP6, OWN6, new Icmpv6Repr({ kind: 'echo-request', ident: 8, seqNo: 2, data })),
    buildIcmpv4Packet(APP, SVC, new Icmpv4Repr({ kind: 'echo-request', ident: 9, seqNo: 3, data })),
  ]);
  t.equal(device.written.length, 2);
  const r4 = Icmpv4Repr.parse(new Icmpv4Packet(new Ipv4Packet(device.written[0] as Uint8Array).payload)) as Icmpv4Repr;
  t.same([r4.kind, r4.ident, r4.seqNo, Buffer.from(r4.data).toString()], ['echo-reply', 7, 1, 'ping!']);
  const p6 = device.written[1] as Uint8Array;
  const r6 = Icmpv6Repr.parse(new Icmpv6Packet(p6.subarray(40)), p6.subarray(8, 24), p6.subarray(24, 40)) as Icmpv6Repr;
  t.same([r6.kind, r6.ident, r6.seqNo], ['echo-reply', 8, 2]);
  t.equal(stack.stats.icmp.echoReplies, 2);
  t.equal(stack.stats.drops.icmpIgnored, 1);
});

t.test('segments for no connection are answered with RST per RFC 9293 §3.10.7.1', async (t) => {
  const { device, stack } = world(t, connectAll);
  device.inject([
    tcp({ flags: 'A', seq: 5, ack: 777 }),
    tcp({ flags: '', seq: 100 }, 'abc'),
    tcp({ flags: 'R', seq: 1 }),
  ]);
  t.equal(device.written.length, 2, 'a RST is never answered');
  t.same(parsed(device.written[0] as Uint8Array), { flags: TcpFlag.RST, seq: 777, ack: 0, sport: 80, dport: 40000 });
  t.same(parsed(device.written[1] as Uint8Array), {
    flags: TcpFlag.RST | TcpFlag.ACK,
    seq: 0,
    ack: 103,
    sport: 80,
    dport: 40000,
  });
  t.equal(stack.stats.drops.noConnection, 3);
});

t.test('a full table recycles the oldest TIME-WAIT connection for a new SYN', async (t) => {
  const streams: Duplex[] = [];
  const dialer: Dialer = {
    dialTcp: () => {
      const s = quietStream();
      streams.push(s);
      return Promise.resolve(s);
    },
    openUdp: () => Promise.reject(new DialError('error', 'no')),
  };
  const { device, stack } = world(t, dialer, { maxConnections: 2 });
  const open = async (sport: number) => {
    device.inject([tcp({ sport, flags: 'S', seq: 1000 })]);
    await turn();
    await turn();
    const synAck = parsed(device.written.pop() as Uint8Array);
    t.equal(synAck.flags, TcpFlag.SYN | TcpFlag.ACK, `SYN-ACK to ${sport}`);
    device.inject([tcp({ sport, flags: 'A', seq: 1001, ack: synAck.seq + 1 })]);
    return synAck.seq + 1;
  };
  const us = await open(1);
  await open(2);
  device.inject([tcp({ sport: 3, flags: 'S', seq: 1000 })]);
  t.equal(stack.stats.drops.connectionLimit, 1, 'table full, nothing to recycle: SYN dropped');
  // The server side of connection 1 closes first: our FIN, the app's FIN+ACK → TIME-WAIT.
  (streams[0] as Duplex).push(null);
  await turn();
  await turn();
  const fin = parsed(device.written.pop() as Uint8Array);
  t.equal(fin.flags, TcpFlag.FIN | TcpFlag.ACK, 'our FIN');
  device.inject([tcp({ sport: 1, flags: 'FA', seq: 1001, ack: us + 1 })]);
  t.equal(stack.stats.tcp.timeWait, 1);
  device.inject([tcp({ sport: 3, flags: 'S', seq: 1000 })]);
  t.equal(stack.stats.tcp.timeWaitRecycled, 1, 'the TIME-WAIT connection made room');
  t.equal(stack.stats.tcp.timeWait, 0);
  await turn();
  await turn();
  t.equal(
    parsed(device.written.pop() as Uint8Array).flags,
    TcpFlag.SYN | TcpFlag.ACK,
    'the new connection is answered',
  );
  t.equal(stack.connectionCount, 2);
});

t.test('close() resets every connection and is idempotent', async (t) => {
  const { device, stack } = world(t, connectAll);
  device.inject([tcp({ sport: 5, flags: 'S' })]);
  await turn();
  await turn();
  const synAck = parsed(device.written.pop() as Uint8Array);
  device.inject([tcp({ sport: 5, flags: 'A', seq: 1001, ack: synAck.seq + 1 })]);
  stack.close();
  stack.close();
  const rst = parsed(device.written.pop() as Uint8Array);
  t.equal(rst.flags, TcpFlag.RST | TcpFlag.ACK);
  t.equal(stack.connectionCount, 0);
});

class FakeFlow implements DatagramFlow {
  sent: string[] = [];
  closed = 0;
  #onDatagram: ((d: Uint8Array) => void) | null = null;
  send(d: Uint8Array): boolean {
    this.sent.push(Buffer.from(d).toString());
    return true;
  }
  onDatagram(h: (d: Uint8Array) => void): void {
    this.#onDatagram = h;
  }
  onClose(): void {}
  close(): void {
    this.closed++;
  }
  reply(s: string): void {
    this.#onDatagram?.(Buffer.from(s));
  }
}

t.test('UDP: one flow per 4-tuple, queued while opening, replies built back, idle close', async (t) => {
  const flows: FakeFlow[] = [];
  let release: () => void = () => {};
  const opened = new Promise<void>((r) => (release = r));
  const dialer: Dialer = {
    dialTcp: () => Promise.reject(new DialError('refused', 'no')),
    openUdp: async () => {
      await opened;
      const f = new FakeFlow();
      flows.push(f);
      return f;
    },
  };
  const { device, stack } = world(t, dialer, { udpIdleMs: 30 });
  device.inject([
    buildUdpPacket(APP, SVC, 5000, 53, Buffer.from('one')),
    buildUdpPacket(APP, SVC, 5000, 53, Buffer.from('two')),
  ]);
  t.equal(stack.stats.udp.flowsTotal, 1, 'same 4-tuple, one flow');
  release();
  await turn();
  const f = flows[0] as FakeFlow;
  t.same(f.sent, ['one', 'two'], 'queued datagrams delivered in order');
  f.reply('answer');
  await turn();
  const out = device.written.pop() as Uint8Array;
  const udp = new UdpPacket(new Ipv4Packet(out).payload);
  t.same([udp.srcPort, udp.dstPort, Buffer.from(udp.payload).toString()], [53, 5000, 'answer']);
  t.ok(udp.verifyChecksum(SVC, APP));
  while (f.closed === 0) await new Promise((r) => setTimeout(r, 10));
  t.equal(stack.stats.udp.flowsOpen, 0, 'closed after being idle');
});

t.test('UDP: a refused open answers ICMP port unreachable quoting the datagram', async (t) => {
  const dialer: Dialer = {
    dialTcp: () => Promise.reject(new DialError('refused', 'no')),
    openUdp: () => Promise.reject(new DialError('refused', 'closed port')),
  };
  const { device, stack } = world(t, dialer);
  const dgram = buildUdpPacket(APP, SVC, 5000, 9, Buffer.from('x'));
  device.inject([dgram]);
  await turn();
  await turn();
  const icmp = Icmpv4Repr.parse(
    new Icmpv4Packet(new Ipv4Packet(device.written.pop() as Uint8Array).payload),
  ) as Icmpv4Repr;
  t.same([icmp.kind, icmp.code], ['dst-unreachable', 3]);
  t.same(Buffer.from(icmp.data), Buffer.from(dgram), 'the whole datagram quoted');
  t.equal(stack.stats.dialErrors.refused, 1);
});

t.test('input: every IP packet the stack cannot take is counted under one reason', async (t) => {
  const opened: string[] = [];
  const dialer: Dialer = {
    dialTcp: () => Promise.reject(new DialError('refused', 'no')),
    openUdp: (r) => {
      opened.push(`${r.destination.address}:${r.destination.port}`);
      return Promise.reject(new DialError('error', 'no'));
    },
  };
  const { device, stack } = world(t, dialer);
  const v4 = buildUdpPacket(APP, SVC, 5000, 53, Buffer.from('q'));
  const v6 = buildUdpPacket(APP6, OWN6, 5000, 53, Buffer.from('q'));
  const edit = (p: Uint8Array, f: (b: Uint8Array) => void) => {
    const b = Uint8Array.from(p); // not p.slice(): on a Buffer that is a view
    f(b);
    return b;
  };
  /** `v6` with one 8-byte extension header of type `ext` in front of the UDP header. */
  const withExtension = (ext: number, extLen = 0) => {
    const b = new Uint8Array(v6.length + 8);
    b.set(v6.subarray(0, 40));
    b[6] = ext;
    const payload = v6.length - 40 + 8;
    b[4] = payload >>> 8;
    b[5] = payload & 0xff;
    b[40] = 17;
    b[41] = extLen;
    b.set(v6.subarray(40), 48);
    return b;
  };
  const cases: [string, Uint8Array, string][] = [
    ['empty', new Uint8Array(0), 'malformed'],
    ['version 5', edit(v4, (b) => (b[0] = 0x55)), 'malformed'],
    ['IPv4 shorter than its header', v4.subarray(0, 12), 'truncated'],
    ['IPv4 total length beyond the bytes', edit(v4, (b) => (b[3] = (b[3] as number) + 1)), 'truncated'],
    ['IPv4 header length below 20', edit(v4, (b) => (b[0] = 0x44)), 'malformed'],
    ['IPv4 fragment', edit(v4, (b) => (b[6] = 0x20)), 'unsupported'],
    ['IPv4 carrying GRE', edit(v4, (b) => (b[9] = 47)), 'unsupported'],
    ['IPv4 carrying ICMPv6', edit(v4, (b) => (b[9] = 58)), 'unsupported'],
    ['IPv6 shorter than its header', v6.subarray(0, 39), 'truncated'],
    ['IPv6 payload length beyond the bytes', edit(v6, (b) => (b[5] = (b[5] as number) + 1)), 'truncated'],
    ['IPv6 fragment header', withExtension(44), 'unsupported'],
    ['IPv6 extension header past the payload', withExtension(60, 1), 'truncated'],
    ['IPv6 carrying ICMPv4', edit(v6, (b) => (b[6] = 1)), 'unsupported'],
    ['IPv6 carrying GRE', edit(v6, (b) => (b[6] = 47)), 'unsupported'],
  ];
  for (const [name, packet, reason] of cases) {
    const before = { ...stack.stats.drops };
    device.inject([packet]);
    const moved = Object.entries(stack.stats.drops).filter(([k, v]) => v !== before[k as keyof typeof before]);
    t.same(moved, [[reason, (before[reason as keyof typeof before] as number) + 1]], name);
  }
  t.same(opened, [], 'none of them reached UDP');
  // Hop-by-hop, routing and destination options are skipped to the UDP header.
  for (const ext of [0, 43, 60]) device.inject([withExtension(ext)]);
  t.same(opened, ['fd00:c8::1:53'], 'the flow behind the extension headers opened (once: same 4-tuple)');
  t.equal(stack.stats.udp.datagramsFromApp, 3);
});
