// ICMP the stack originates: echo replies for its own addresses, and
// destination-unreachable errors when a dial fails as "unreachable" (TCP)
// or the target port refuses (UDP). An error quotes the offending packet
// (RFC 792; RFC 1812 §4.3.2.3 up to 576 bytes; RFC 4443 §2.4 up to 1280):
// the application's kernel matches it to its socket by the quoted headers.

import {
  buildIcmpv4Packet,
  buildIcmpv6Packet,
  ICMP_HEADER_LEN,
  ICMPV4_ERROR_MAX_LEN,
  ICMPV6_ERROR_MAX_LEN,
  ICMPV6_HEADER_LEN,
  Icmpv4Packet,
  Icmpv4Repr,
  Icmpv4Type,
  Icmpv4Unreachable,
  Icmpv6Packet,
  Icmpv6Repr,
  Icmpv6Type,
  Icmpv6Unreachable,
  IPV4_HEADER_LEN,
  IPV6_HEADER_LEN,
} from '../wire/index.js';
import type { DropReason } from './stats.js';

export type UnreachableKind = 'host' | 'port';

/**
 * An ICMP(v6) destination unreachable from `from` (the unreachable
 * destination itself, as a router next to it would say) to `to`, quoting
 * `original` (a whole IP packet the application sent).
 */
export function buildUnreachable(
  from: Uint8Array,
  to: Uint8Array,
  original: Uint8Array,
  kind: UnreachableKind,
): Uint8Array {
  if (from.length === 4) {
    const room = ICMPV4_ERROR_MAX_LEN - IPV4_HEADER_LEN - ICMP_HEADER_LEN;
    const repr = new Icmpv4Repr({
      kind: 'dst-unreachable',
      code: kind === 'port' ? Icmpv4Unreachable.PortUnreachable : Icmpv4Unreachable.HostUnreachable,
      data: original.subarray(0, Math.min(original.length, room)),
    });
    return buildIcmpv4Packet(from, to, repr);
  }
  const room = ICMPV6_ERROR_MAX_LEN - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;
  const repr = new Icmpv6Repr({
    kind: 'dst-unreachable',
    code: kind === 'port' ? Icmpv6Unreachable.PortUnreachable : Icmpv6Unreachable.AddressUnreachable,
    data: original.subarray(0, Math.min(original.length, room)),
  });
  return buildIcmpv6Packet(from, to, repr);
}

/** The echo reply to an echo request addressed to us (RFC 792 / RFC 4443 §4.2). */
export function buildEchoReply(
  from: Uint8Array,
  to: Uint8Array,
  ident: number,
  seqNo: number,
  data: Uint8Array,
): Uint8Array {
  return from.length === 4
    ? buildIcmpv4Packet(from, to, new Icmpv4Repr({ kind: 'echo-reply', ident, seqNo, data }))
    : buildIcmpv6Packet(from, to, new Icmpv6Repr({ kind: 'echo-reply', ident, seqNo, data }));
}

/**
 * An ICMP(v6) message from the application: its echo fields if it is a
 * valid echo request, else why it is dropped (the caller checks that the
 * destination is one of ours).
 */
export function readEchoRequest(l4: Uint8Array, src: Uint8Array, dst: Uint8Array): EchoRequest | DropReason {
  if (src.length === 4) {
    const view = new Icmpv4Packet(l4);
    if (view.checkLen() !== 0) return 'truncated';
    if (!view.verifyChecksum()) return 'checksum';
    return echoFields(view, Icmpv4Type.EchoRequest);
  }
  const view = new Icmpv6Packet(l4);
  if (view.checkLen() !== 0) return 'truncated';
  if (!view.verifyChecksum(src, dst)) return 'checksum';
  return echoFields(view, Icmpv6Type.EchoRequest);
}

interface EchoRequest {
  ident: number;
  seqNo: number;
  data: Uint8Array;
}

function echoFields(view: Icmpv4Packet | Icmpv6Packet, echoRequestType: number): EchoRequest | DropReason {
  if (view.msgType !== echoRequestType || view.code !== 0) return 'icmpIgnored';
  return { ident: view.echoIdent, seqNo: view.echoSeqNo, data: view.data };
}
