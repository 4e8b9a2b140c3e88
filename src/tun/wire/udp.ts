// UDP header (RFC 768; IPv6 rules from RFC 8200 §8.1): view and Repr.
import { readU16, writeU16 } from './bytes.js';
import { finishChecksum, pseudoHeaderSum, sumBytes, verifyChecksum } from './checksum.js';
import { WireError, type WireResult } from './error.js';
import { IpProtocol } from './ip.js';

export const UDP_HEADER_LEN = 8;

export class UdpPacket {
  buffer: Uint8Array;

  constructor(buffer: Uint8Array) {
    this.buffer = buffer;
  }

  reset(buffer: Uint8Array): this {
    this.buffer = buffer;
    return this;
  }

  checkLen(): WireResult {
    const b = this.buffer;
    if (b.length < UDP_HEADER_LEN) return WireError.Truncated;
    const len = readU16(b, 4);
    if (len < UDP_HEADER_LEN) return WireError.Malformed;
    if (len > b.length) return WireError.Truncated;
    return 0;
  }

  get srcPort(): number {
    return readU16(this.buffer, 0);
  }
  get dstPort(): number {
    return readU16(this.buffer, 2);
  }
  /** Header plus payload, from the length field. */
  get len(): number {
    return readU16(this.buffer, 4);
  }
  get checksum(): number {
    return readU16(this.buffer, 6);
  }
  get payload(): Uint8Array {
    return this.buffer.subarray(UDP_HEADER_LEN, this.len);
  }
  verifyChecksum(src: Uint8Array, dst: Uint8Array): boolean {
    const len = this.len;
    return verifyChecksum(this.buffer, 0, len, pseudoHeaderSum(src, dst, IpProtocol.Udp, len));
  }
  fillChecksum(src: Uint8Array, dst: Uint8Array): void {
    fillUdpChecksum(this.buffer, 0, this.len, src, dst);
  }
}

export class UdpRepr {
  srcPort: number;
  dstPort: number;
  /** Payload position inside the UDP buffer (always 8) and its length. */
  payloadOffset = UDP_HEADER_LEN;
  payloadLen: number;

  constructor(srcPort: number, dstPort: number, payloadLen: number) {
    this.srcPort = srcPort;
    this.dstPort = dstPort;
    this.payloadLen = payloadLen;
  }

  /**
   * A zero checksum means "none" over IPv4 (accepted) and is illegal over
   * IPv6 (Malformed).
   */
  static parse(
    packet: UdpPacket,
    src: Uint8Array,
    dst: Uint8Array,
    options: { verifyChecksum?: boolean } = {},
  ): UdpRepr | WireError {
    const len = packet.checkLen();
    if (len !== 0) return len;
    if (packet.dstPort === 0) return WireError.Malformed;
    if (packet.checksum === 0) {
      if (src.length === 16) return WireError.Malformed;
    } else if (options.verifyChecksum !== false && !packet.verifyChecksum(src, dst)) {
      return WireError.Checksum;
    }
    return new UdpRepr(packet.srcPort, packet.dstPort, packet.len - UDP_HEADER_LEN);
  }

  get bufferLen(): number {
    return UDP_HEADER_LEN + this.payloadLen;
  }

  emitHeader(b: Uint8Array, o: number): void {
    writeU16(b, o, this.srcPort);
    writeU16(b, o + 2, this.dstPort);
    writeU16(b, o + 4, UDP_HEADER_LEN + this.payloadLen);
    writeU16(b, o + 6, 0);
  }

  emit(packet: UdpPacket, src: Uint8Array, dst: Uint8Array, payload?: Uint8Array): void {
    this.emitHeader(packet.buffer, 0);
    if (payload) packet.buffer.set(payload, UDP_HEADER_LEN);
    packet.fillChecksum(src, dst);
  }
}

/** Stores the UDP checksum of `b[o, o+len)`; a computed 0 is sent as 0xffff. */
export function fillUdpChecksum(b: Uint8Array, o: number, len: number, src: Uint8Array, dst: Uint8Array): void {
  writeU16(b, o + 6, 0);
  const c = finishChecksum(sumBytes(b, o, len, pseudoHeaderSum(src, dst, IpProtocol.Udp, len)));
  writeU16(b, o + 6, c === 0 ? 0xffff : c);
}
