// ICMPv4 (RFC 792): echo and the error messages the stack sends or reads.
import { readU16, writeU16 } from './bytes.js';
import { checksum, verifyChecksum } from './checksum.js';
import { WireError } from './error.js';
import { ICMP_HEADER_LEN, IcmpHeaderView } from './icmp-header.js';

export { ICMP_HEADER_LEN } from './icmp-header.js';

export const Icmpv4Type = { EchoReply: 0, DstUnreachable: 3, EchoRequest: 8, TimeExceeded: 11 } as const;
export const Icmpv4Unreachable = {
  NetUnreachable: 0,
  HostUnreachable: 1,
  ProtoUnreachable: 2,
  PortUnreachable: 3,
  FragRequired: 4,
  AdminProhibited: 13,
} as const;
/** RFC 1812 §4.3.2.3: an error quotes as much as fits in 576 bytes. */
export const ICMPV4_ERROR_MAX_LEN = 576;

export class Icmpv4Packet extends IcmpHeaderView {
  /** Next-hop MTU of a "fragmentation needed" message (RFC 1191). */
  get nextHopMtu(): number {
    return readU16(this.buffer, 6);
  }
  verifyChecksum(): boolean {
    return verifyChecksum(this.buffer, 0, this.buffer.length);
  }
  fillChecksum(): void {
    writeU16(this.buffer, 2, 0);
    writeU16(this.buffer, 2, checksum(this.buffer, 0, this.buffer.length));
  }
}

export type Icmpv4Kind = 'echo-request' | 'echo-reply' | 'dst-unreachable' | 'time-exceeded';

export class Icmpv4Repr {
  kind: Icmpv4Kind;
  code: number;
  /** Echo identifier and sequence number (0 for errors). */
  ident: number;
  seqNo: number;
  /** Next-hop MTU for dst-unreachable/frag-required, else 0. */
  mtu: number;
  /** Echo data or quoted datagram (a view into the parsed buffer). */
  data: Uint8Array;

  constructor(fields: {
    kind: Icmpv4Kind;
    code?: number;
    ident?: number;
    seqNo?: number;
    mtu?: number;
    data: Uint8Array;
  }) {
    this.kind = fields.kind;
    this.code = fields.code ?? 0;
    this.ident = fields.ident ?? 0;
    this.seqNo = fields.seqNo ?? 0;
    this.mtu = fields.mtu ?? 0;
    this.data = fields.data;
  }

  static parse(packet: Icmpv4Packet, options: { verifyChecksum?: boolean } = {}): Icmpv4Repr | WireError {
    const len = packet.checkLen();
    if (len !== 0) return len;
    if (options.verifyChecksum !== false && !packet.verifyChecksum()) return WireError.Checksum;
    switch (packet.msgType) {
      case Icmpv4Type.EchoRequest:
      case Icmpv4Type.EchoReply:
        if (packet.code !== 0) return WireError.Malformed;
        return new Icmpv4Repr({
          kind: packet.msgType === Icmpv4Type.EchoRequest ? 'echo-request' : 'echo-reply',
          ident: packet.echoIdent,
          seqNo: packet.echoSeqNo,
          data: packet.data,
        });
      case Icmpv4Type.DstUnreachable:
        return new Icmpv4Repr({
          kind: 'dst-unreachable',
          code: packet.code,
          mtu: packet.code === Icmpv4Unreachable.FragRequired ? packet.nextHopMtu : 0,
          data: packet.data,
        });
      case Icmpv4Type.TimeExceeded:
        return new Icmpv4Repr({ kind: 'time-exceeded', code: packet.code, data: packet.data });
      default:
        return WireError.Unsupported;
    }
  }

  get bufferLen(): number {
    return ICMP_HEADER_LEN + this.data.length;
  }

  /** Writes the message and its checksum at `o`. */
  emitInto(b: Uint8Array, o: number): void {
    const type =
      this.kind === 'echo-request'
        ? Icmpv4Type.EchoRequest
        : this.kind === 'echo-reply'
          ? Icmpv4Type.EchoReply
          : this.kind === 'dst-unreachable'
            ? Icmpv4Type.DstUnreachable
            : Icmpv4Type.TimeExceeded;
    b[o] = type;
    b[o + 1] = this.code;
    writeU16(b, o + 2, 0);
    if (this.kind === 'echo-request' || this.kind === 'echo-reply') {
      writeU16(b, o + 4, this.ident);
      writeU16(b, o + 6, this.seqNo);
    } else {
      writeU16(b, o + 4, 0);
      writeU16(b, o + 6, this.mtu);
    }
    b.set(this.data, o + ICMP_HEADER_LEN);
    writeU16(b, o + 2, checksum(b, o, this.bufferLen));
  }

  emit(packet: Icmpv4Packet): void {
    this.emitInto(packet.buffer, 0);
  }
}
