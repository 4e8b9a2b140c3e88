// Zero-copy packet views and plain Reprs (smoltcp src/wire shape).
//
// Data flow: raw bytes from the TUN → `XxxPacket` view (`checkLen()` once,
// then getters that cannot fail) → `XxxRepr.parse()` (validates semantics,
// folds flags, returns a WireError code instead of throwing) → the stack.
// Outgoing: Repr → packet-builder (one allocation per packet, IP header and
// checksums included).
export * from './bytes.js';
export * from './checksum.js';
export * from './error.js';
export * from './icmpv4.js';
export * from './icmpv6.js';
export * from './ip.js';
export * from './ipv4.js';
export * from './ipv6.js';
export {
  beginTcpPacket,
  buildIcmpv4Packet,
  buildIcmpv6Packet,
  buildTcpPacket,
  buildUdpPacket,
  DEFAULT_HOP_LIMIT,
  finishTcpPacket,
  ipHeaderLenFor,
  tcpPayloadOffset,
} from './packet-builder.js';
export * from './seq-number.js';
export * from './tcp.js';
export * from './udp.js';
