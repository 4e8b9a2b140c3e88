// A million random and mutated packets through every view and Repr: none
// may throw; every refusal must be one of the WireError codes.
import t from 'tap';
import { WireError } from '../../../src/tun/wire/error.js';
import { Icmpv4Packet, Icmpv4Repr } from '../../../src/tun/wire/icmpv4.js';
import { Icmpv6Packet, Icmpv6Repr } from '../../../src/tun/wire/icmpv6.js';
import { IpProtocol } from '../../../src/tun/wire/ip.js';
import { Ipv4Packet, Ipv4Repr } from '../../../src/tun/wire/ipv4.js';
import { Ipv6Packet, Ipv6Repr } from '../../../src/tun/wire/ipv6.js';
import { TcpPacket, TcpRepr } from '../../../src/tun/wire/tcp.js';
import { UdpPacket, UdpRepr } from '../../../src/tun/wire/udp.js';
import * as fx from './fixtures.js';

const ITERATIONS = 1_000_000;
const seeds = Object.values(fx).filter((v): v is Uint8Array => v instanceof Uint8Array && v.length > 16);

let state = 0x9e3779b9;
function rand(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
}
const randInt = (n: number) => Math.floor(rand() * n);

const codes = new Set<number>(Object.values(WireError));
const tally = { ok: 0, refused: 0 };
const tcp = new TcpRepr();
const tcpView = new TcpPacket(new Uint8Array(0));

function record(r: unknown): void {
  if (typeof r === 'number' && r !== 0) {
    if (!codes.has(r)) throw new Error(`unknown refusal ${r}`);
    tally.refused++;
  } else tally.ok++;
}

function parseAll(b: Uint8Array): void {
  const version = (b[0] ?? 0) >>> 4;
  const verify = rand() < 0.5;
  let src: Uint8Array;
  let dst: Uint8Array;
  let proto: number;
  let l4: Uint8Array;
  if (version === 6) {
    const r = Ipv6Repr.parse(new Ipv6Packet(b));
    record(r);
    if (typeof r === 'number') return;
    src = r.srcAddr;
    dst = r.dstAddr;
    proto = r.nextHeader;
    l4 = b.subarray(r.payloadOffset, r.payloadOffset + r.payloadLen);
  } else {
    const v = new Ipv4Packet(b);
    const r = Ipv4Repr.parse(v, { verifyChecksum: verify });
    record(r);
    if (typeof r === 'number') return;
    src = r.srcAddr;
    dst = r.dstAddr;
    proto = r.protocol;
    l4 = v.payload;
  }
  switch (proto) {
    case IpProtocol.Tcp:
      record(tcp.parseFrom(tcpView.reset(l4), src, dst, { verifyChecksum: verify }));
      break;
    case IpProtocol.Udp:
      record(UdpRepr.parse(new UdpPacket(l4), src, dst, { verifyChecksum: verify }));
      break;
    case IpProtocol.Icmp:
      record(Icmpv4Repr.parse(new Icmpv4Packet(l4), { verifyChecksum: verify }));
      break;
    case IpProtocol.Icmpv6:
      record(Icmpv6Repr.parse(new Icmpv6Packet(l4), src, dst, { verifyChecksum: verify }));
      break;
  }
}

function mutate(seed: Uint8Array): Uint8Array {
  const mode = randInt(4);
  let b: Uint8Array;
  if (mode === 0) b = seed.slice(0, randInt(seed.length + 1));
  else if (mode === 1) {
    b = new Uint8Array(seed.length + randInt(64));
    b.set(seed);
    for (let i = seed.length; i < b.length; i++) b[i] = randInt(256);
  } else b = seed.slice();
  const flips = 1 + randInt(4);
  for (let k = 0; k < flips && b.length > 0; k++) {
    // Bias toward the headers, where the interesting fields are.
    const at = rand() < 0.8 ? randInt(Math.min(b.length, 80)) : randInt(b.length);
    b[at] = rand() < 0.5 ? randInt(256) : (b[at] as number) ^ (1 << randInt(8));
  }
  return b;
}

function randomPacket(): Uint8Array {
  const b = new Uint8Array(randInt(128));
  for (let i = 0; i < b.length; i++) b[i] = randInt(256);
  if (b.length > 0 && rand() < 0.7) b[0] = rand() < 0.5 ? 0x45 : 0x60;
  return b;
}

t.test(`${ITERATIONS.toLocaleString()} random and mutated packets never throw`, async (t) => {
  const started = Date.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const pkt = rand() < 0.8 ? mutate(seeds[randInt(seeds.length)] as Uint8Array) : randomPacket();
    parseAll(pkt);
  }
  t.ok(tally.refused > ITERATIONS / 10, `refusals counted (${tally.refused})`);
  t.ok(tally.ok > ITERATIONS / 10, `valid parses still happen (${tally.ok})`);
  t.comment(`${ITERATIONS} packets in ${Date.now() - started} ms`);
});
