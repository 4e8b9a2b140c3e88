// IPv4 header (RFC 791): a view over bytes and a plain Repr.
import { readU16, writeU16 } from './bytes.js';
import { checksum, verifyChecksum } from './checksum.js';
import { WireError, type WireResult } from './error.js';

export const IPV4_HEADER_LEN = 20;
/** Where the addresses sit in the header (the stack's flow table reads them in place). */
export const IPV4_SRC_ADDR_OFFSET = 12;
export const IPV4_DST_ADDR_OFFSET = 16;
const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_OFFSET_MASK = 0x1fff;

export class Ipv4Packet {
  buffer: Uint8Array;

  constructor(buffer: Uint8Array) {
    this.buffer = buffer;
  }

  /** Points the view at another buffer (reuse on hot paths). */
  reset(buffer: Uint8Array): this {
    this.buffer = buffer;
    return this;
  }

  /** After 0, no getter reads out of bounds. */
  checkLen(): WireResult {
    const b = this.buffer;
    if (b.length < IPV4_HEADER_LEN) return WireError.Truncated;
    const headerLen = ((b[0] as number) & 0x0f) * 4;
    if (headerLen < IPV4_HEADER_LEN) return WireError.Malformed;
    if (headerLen > b.length) return WireError.Truncated;
    const total = readU16(b, 2);
    if (total < headerLen) return WireError.Malformed;
    if (total > b.length) return WireError.Truncated;
    return 0;
  }

  get version(): number {
    return (this.buffer[0] as number) >>> 4;
  }
  get headerLen(): number {
    return ((this.buffer[0] as number) & 0x0f) * 4;
  }
  get dscpEcn(): number {
    return this.buffer[1] as number;
  }
  get totalLen(): number {
    return readU16(this.buffer, 2);
  }
  get ident(): number {
    return readU16(this.buffer, 4);
  }
  get dontFrag(): boolean {
    return (readU16(this.buffer, 6) & FLAG_DF) !== 0;
  }
  get moreFrags(): boolean {
    return (readU16(this.buffer, 6) & FLAG_MF) !== 0;
  }
  /** In bytes. */
  get fragOffset(): number {
    return (readU16(this.buffer, 6) & FRAG_OFFSET_MASK) * 8;
  }
  get hopLimit(): number {
    return this.buffer[8] as number;
  }
  get protocol(): number {
    return this.buffer[9] as number;
  }
  get checksum(): number {
    return readU16(this.buffer, 10);
  }
  get srcAddr(): Uint8Array {
    return this.buffer.subarray(IPV4_SRC_ADDR_OFFSET, IPV4_DST_ADDR_OFFSET);
  }
  get dstAddr(): Uint8Array {
    return this.buffer.subarray(IPV4_DST_ADDR_OFFSET, IPV4_HEADER_LEN);
  }
  get payloadOffset(): number {
    return this.headerLen;
  }
  get payloadLen(): number {
    return this.totalLen - this.headerLen;
  }
  get payload(): Uint8Array {
    return this.buffer.subarray(this.headerLen, this.totalLen);
  }
  verifyChecksum(): boolean {
    return verifyChecksum(this.buffer, 0, this.headerLen);
  }
  fillChecksum(): void {
    writeU16(this.buffer, 10, 0);
    writeU16(this.buffer, 10, checksum(this.buffer, 0, this.headerLen));
  }
}

export interface Ipv4ParseOptions {
  /** Verify the header checksum (default true; cheap: 20 bytes). */
  verifyChecksum?: boolean;
}

export class Ipv4Repr {
  srcAddr: Uint8Array;
  dstAddr: Uint8Array;
  protocol: number;
  payloadLen: number;
  hopLimit: number;

  constructor(fields: {
    srcAddr: Uint8Array;
    dstAddr: Uint8Array;
    protocol: number;
    payloadLen: number;
    hopLimit?: number;
  }) {
    this.srcAddr = fields.srcAddr;
    this.dstAddr = fields.dstAddr;
    this.protocol = fields.protocol;
    this.payloadLen = fields.payloadLen;
    this.hopLimit = fields.hopLimit ?? 64;
  }

  /** Parses a checked view; fragments are Unsupported (the stack never reassembles). */
  static parse(packet: Ipv4Packet, options: Ipv4ParseOptions = {}): Ipv4Repr | WireError {
    const len = packet.checkLen();
    if (len !== 0) return len;
    if (packet.version !== 4) return WireError.Malformed;
    if (options.verifyChecksum !== false && !packet.verifyChecksum()) return WireError.Checksum;
    if (packet.moreFrags || packet.fragOffset !== 0) return WireError.Unsupported;
    return new Ipv4Repr({
      srcAddr: packet.srcAddr.slice(),
      dstAddr: packet.dstAddr.slice(),
      protocol: packet.protocol,
      payloadLen: packet.payloadLen,
      hopLimit: packet.hopLimit,
    });
  }

  get bufferLen(): number {
    return IPV4_HEADER_LEN;
  }

  /** Writes a 20-byte header (DF set, ident 0) with its checksum. */
  emit(packet: Ipv4Packet): void {
    writeIpv4Header(packet.buffer, 0, this.srcAddr, this.dstAddr, this.protocol, this.payloadLen, this.hopLimit);
  }
}

/** Writes a complete 20-byte IPv4 header at `o`, checksum included. */
export function writeIpv4Header(
  b: Uint8Array,
  o: number,
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  payloadLen: number,
  hopLimit: number,
): void {
  b[o] = 0x45;
  b[o + 1] = 0;
  writeU16(b, o + 2, IPV4_HEADER_LEN + payloadLen);
  writeU16(b, o + 4, 0);
  writeU16(b, o + 6, FLAG_DF);
  b[o + 8] = hopLimit;
  b[o + 9] = protocol;
  writeU16(b, o + 10, 0);
  b.set(src, o + IPV4_SRC_ADDR_OFFSET);
  b.set(dst, o + IPV4_DST_ADDR_OFFSET);
  writeU16(b, o + 10, checksum(b, o, IPV4_HEADER_LEN));
}
