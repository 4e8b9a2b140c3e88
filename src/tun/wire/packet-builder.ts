// Builds whole IP packets (IPv4 or IPv6 by address length) with TCP, UDP or
// ICMP inside, checksums included, in one allocation. The stack's hot path
// uses the two-step TCP form: `beginTcpPacket` writes both headers and
// leaves room for the payload, the caller copies the payload straight from
// its send buffer, and `finishTcpPacket` stores the checksum.

import { writeU16 } from './bytes.js';
import type { Icmpv4Repr } from './icmpv4.js';
import type { Icmpv6Repr } from './icmpv6.js';
import { IpProtocol } from './ip.js';
import { IPV4_HEADER_LEN, writeIpv4Header } from './ipv4.js';
import { IPV6_HEADER_LEN, writeIpv6Header } from './ipv6.js';
import { fillTcpChecksum, type TcpRepr } from './tcp.js';
import { fillUdpChecksum, UDP_HEADER_LEN } from './udp.js';

export const DEFAULT_HOP_LIMIT = 64;

export function ipHeaderLenFor(addr: Uint8Array): number {
  return addr.length === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
}

function allocate(len: number): Uint8Array {
  return Buffer.allocUnsafe(len);
}

function writeIpHeader(
  b: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  payloadLen: number,
  hopLimit: number,
): void {
  if (src.length === 4) writeIpv4Header(b, 0, src, dst, protocol, payloadLen, hopLimit);
  else writeIpv6Header(b, 0, src, dst, protocol, payloadLen, hopLimit);
}

/** Offset of the TCP payload in a packet built for `src` with `repr`. */
export function tcpPayloadOffset(src: Uint8Array, repr: TcpRepr): number {
  return ipHeaderLenFor(src) + repr.headerLen;
}

/**
 * Allocates an IP+TCP packet with room for `repr.payloadLen` payload bytes,
 * writes both headers and returns it; the payload and checksum are the
 * caller's (then call finishTcpPacket).
 */
export function beginTcpPacket(
  src: Uint8Array,
  dst: Uint8Array,
  repr: TcpRepr,
  hopLimit = DEFAULT_HOP_LIMIT,
): Uint8Array {
  const ipLen = ipHeaderLenFor(src);
  const tcpLen = repr.headerLen + repr.payloadLen;
  const b = allocate(ipLen + tcpLen);
  writeIpHeader(b, src, dst, IpProtocol.Tcp, tcpLen, hopLimit);
  repr.emitHeader(b, ipLen);
  return b;
}

/** Stores the TCP checksum of a packet made by beginTcpPacket. */
export function finishTcpPacket(packet: Uint8Array, src: Uint8Array, dst: Uint8Array): void {
  const ipLen = ipHeaderLenFor(src);
  fillTcpChecksum(packet, ipLen, packet.length - ipLen, src, dst);
}

/** A complete IP+TCP packet; `repr.payloadLen` is set from `payload`. */
export function buildTcpPacket(
  src: Uint8Array,
  dst: Uint8Array,
  repr: TcpRepr,
  payload: Uint8Array | null = null,
  hopLimit = DEFAULT_HOP_LIMIT,
): Uint8Array {
  repr.payloadLen = payload ? payload.length : 0;
  const b = beginTcpPacket(src, dst, repr, hopLimit);
  if (payload) b.set(payload, tcpPayloadOffset(src, repr));
  finishTcpPacket(b, src, dst);
  return b;
}

export function buildUdpPacket(
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
  hopLimit = DEFAULT_HOP_LIMIT,
): Uint8Array {
  const ipLen = ipHeaderLenFor(src);
  const udpLen = UDP_HEADER_LEN + payload.length;
  const b = allocate(ipLen + udpLen);
  writeIpHeader(b, src, dst, IpProtocol.Udp, udpLen, hopLimit);
  writeU16(b, ipLen, srcPort);
  writeU16(b, ipLen + 2, dstPort);
  writeU16(b, ipLen + 4, udpLen);
  b.set(payload, ipLen + UDP_HEADER_LEN);
  fillUdpChecksum(b, ipLen, udpLen, src, dst);
  return b;
}

export function buildIcmpv4Packet(
  src: Uint8Array,
  dst: Uint8Array,
  repr: Icmpv4Repr,
  hopLimit = DEFAULT_HOP_LIMIT,
): Uint8Array {
  const b = allocate(IPV4_HEADER_LEN + repr.bufferLen);
  writeIpv4Header(b, 0, src, dst, IpProtocol.Icmp, repr.bufferLen, hopLimit);
  repr.emitInto(b, IPV4_HEADER_LEN);
  return b;
}

export function buildIcmpv6Packet(
  src: Uint8Array,
  dst: Uint8Array,
  repr: Icmpv6Repr,
  hopLimit = DEFAULT_HOP_LIMIT,
): Uint8Array {
  const b = allocate(IPV6_HEADER_LEN + repr.bufferLen);
  writeIpv6Header(b, 0, src, dst, IpProtocol.Icmpv6, repr.bufferLen, hopLimit);
  repr.emitInto(b, IPV6_HEADER_LEN, src, dst);
  return b;
}
