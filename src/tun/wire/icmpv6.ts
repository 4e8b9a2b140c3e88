// ICMPv6 (RFC 4443): echo and the error messages the stack sends or reads.
// Neighbor discovery and MLD are parsed as 'other' for the caller to drop.
import { readU32, writeU16, writeU32 } from './bytes.js';
import { finishChecksum, pseudoHeaderSumV6, sumBytes, verifyChecksum } from './checksum.js';
import { WireError } from './error.js';
import { IcmpHeaderView } from './icmp-header.js';
import { IpProtocol } from './ip.js';

export const ICMPV6_HEADER_LEN = 8;
export const Icmpv6Type = {
  DstUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParamProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
} as const;
export const Icmpv6Unreachable = {
  NoRoute: 0,
  AdminProhibited: 1,
  AddressUnreachable: 3,
  PortUnreachable: 4,
} as const;
/** RFC 4443 §2.4(c): an error must not exceed the minimum IPv6 MTU. */
export const ICMPV6_ERROR_MAX_LEN = 1280;

export class Icmpv6Packet extends IcmpHeaderView {
  get mtu(): number {
    return readU32(this.buffer, 4);
  }
  verifyChecksum(src: Uint8Array, dst: Uint8Array): boolean {
    const b = this.buffer;
    return verifyChecksum(b, 0, b.length, pseudoHeaderSumV6(src, dst, IpProtocol.Icmpv6, b.length));
  }
  fillChecksum(src: Uint8Array, dst: Uint8Array): void {
    fillIcmpv6Checksum(this.buffer, 0, this.buffer.length, src, dst);
  }
}

export type Icmpv6Kind =
  | 'echo-request'
  | 'echo-reply'
  | 'dst-unreachable'
  | 'packet-too-big'
  | 'time-exceeded'
  | 'other';

export class Icmpv6Repr {
  kind: Icmpv6Kind;
  /** The raw type (meaningful for 'other'). */
  msgType: number;
  code: number;
  ident: number;
  seqNo: number;
  mtu: number;
  data: Uint8Array;

  constructor(fields: {
    kind: Icmpv6Kind;
    msgType?: number;
    code?: number;
    ident?: number;
    seqNo?: number;
    mtu?: number;
    data: Uint8Array;
  }) {
    this.kind = fields.kind;
    this.msgType = fields.msgType ?? kindToType(fields.kind);
    this.code = fields.code ?? 0;
    this.ident = fields.ident ?? 0;
    this.seqNo = fields.seqNo ?? 0;
    this.mtu = fields.mtu ?? 0;
    this.data = fields.data;
  }

  static parse(
    packet: Icmpv6Packet,
    src: Uint8Array,
    dst: Uint8Array,
    options: { verifyChecksum?: boolean } = {},
  ): Icmpv6Repr | WireError {
    const len = packet.checkLen();
    if (len !== 0) return len;
    if (options.verifyChecksum !== false && !packet.verifyChecksum(src, dst)) return WireError.Checksum;
    const type = packet.msgType;
    switch (type) {
      case Icmpv6Type.EchoRequest:
      case Icmpv6Type.EchoReply:
        if (packet.code !== 0) return WireError.Malformed;
        return new Icmpv6Repr({
          kind: type === Icmpv6Type.EchoRequest ? 'echo-request' : 'echo-reply',
          ident: packet.echoIdent,
          seqNo: packet.echoSeqNo,
          data: packet.data,
        });
      case Icmpv6Type.DstUnreachable:
        return new Icmpv6Repr({ kind: 'dst-unreachable', code: packet.code, data: packet.data });
      case Icmpv6Type.PacketTooBig:
        return new Icmpv6Repr({ kind: 'packet-too-big', mtu: packet.mtu, data: packet.data });
      case Icmpv6Type.TimeExceeded:
        return new Icmpv6Repr({ kind: 'time-exceeded', code: packet.code, data: packet.data });
      default:
        return new Icmpv6Repr({ kind: 'other', msgType: type, code: packet.code, data: packet.data });
    }
  }

  get bufferLen(): number {
    return ICMPV6_HEADER_LEN + this.data.length;
  }

  emitInto(b: Uint8Array, o: number, src: Uint8Array, dst: Uint8Array): void {
    b[o] = this.msgType;
    b[o + 1] = this.code;
    writeU16(b, o + 2, 0);
    if (this.kind === 'echo-request' || this.kind === 'echo-reply') {
      writeU16(b, o + 4, this.ident);
      writeU16(b, o + 6, this.seqNo);
    } else {
      writeU32(b, o + 4, this.kind === 'packet-too-big' ? this.mtu : 0);
    }
    b.set(this.data, o + ICMPV6_HEADER_LEN);
    fillIcmpv6Checksum(b, o, this.bufferLen, src, dst);
  }

  emit(packet: Icmpv6Packet, src: Uint8Array, dst: Uint8Array): void {
    this.emitInto(packet.buffer, 0, src, dst);
  }
}

function kindToType(kind: Icmpv6Kind): number {
  switch (kind) {
    case 'echo-request':
      return Icmpv6Type.EchoRequest;
    case 'echo-reply':
      return Icmpv6Type.EchoReply;
    case 'dst-unreachable':
      return Icmpv6Type.DstUnreachable;
    case 'packet-too-big':
      return Icmpv6Type.PacketTooBig;
    case 'time-exceeded':
      return Icmpv6Type.TimeExceeded;
    default:
      return 0;
  }
}

export function fillIcmpv6Checksum(b: Uint8Array, o: number, len: number, src: Uint8Array, dst: Uint8Array): void {
  writeU16(b, o + 2, 0);
  writeU16(b, o + 2, finishChecksum(sumBytes(b, o, len, pseudoHeaderSumV6(src, dst, IpProtocol.Icmpv6, len))));
}
