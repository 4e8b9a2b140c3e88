// IPv6 header (RFC 8200): a view over the fixed header and a plain Repr
// that walks extension headers to the upper-layer protocol.
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { WireError, type WireResult } from './error.js';
import { IpProtocol } from './ip.js';

export const IPV6_HEADER_LEN = 40;
/** Where the addresses sit in the header (the stack's flow table reads them in place). */
export const IPV6_SRC_ADDR_OFFSET = 8;
export const IPV6_DST_ADDR_OFFSET = 24;
const MAX_EXTENSION_HEADERS = 8;

export class Ipv6Packet {
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
    if (b.length < IPV6_HEADER_LEN) return WireError.Truncated;
    if (IPV6_HEADER_LEN + readU16(b, 4) > b.length) return WireError.Truncated;
    return 0;
  }

  get version(): number {
    return (this.buffer[0] as number) >>> 4;
  }
  get trafficClass(): number {
    return (readU16(this.buffer, 0) >>> 4) & 0xff;
  }
  get flowLabel(): number {
    return readU32(this.buffer, 0) & 0xfffff;
  }
  get payloadLen(): number {
    return readU16(this.buffer, 4);
  }
  get nextHeader(): number {
    return this.buffer[6] as number;
  }
  get hopLimit(): number {
    return this.buffer[7] as number;
  }
  get srcAddr(): Uint8Array {
    return this.buffer.subarray(IPV6_SRC_ADDR_OFFSET, IPV6_DST_ADDR_OFFSET);
  }
  get dstAddr(): Uint8Array {
    return this.buffer.subarray(IPV6_DST_ADDR_OFFSET, IPV6_HEADER_LEN);
  }
  get payload(): Uint8Array {
    return this.buffer.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + this.payloadLen);
  }
}

export class Ipv6Repr {
  srcAddr: Uint8Array;
  dstAddr: Uint8Array;
  /** The upper-layer protocol, after any extension headers. */
  nextHeader: number;
  /** Offset of the upper-layer header from the start of the packet. */
  payloadOffset: number;
  /** Length of the upper-layer header and data. */
  payloadLen: number;
  hopLimit: number;

  constructor(fields: {
    srcAddr: Uint8Array;
    dstAddr: Uint8Array;
    nextHeader: number;
    payloadLen: number;
    hopLimit?: number;
    payloadOffset?: number;
  }) {
    this.srcAddr = fields.srcAddr;
    this.dstAddr = fields.dstAddr;
    this.nextHeader = fields.nextHeader;
    this.payloadLen = fields.payloadLen;
    this.hopLimit = fields.hopLimit ?? 64;
    this.payloadOffset = fields.payloadOffset ?? IPV6_HEADER_LEN;
  }

  static parse(packet: Ipv6Packet): Ipv6Repr | WireError {
    const len = packet.checkLen();
    if (len !== 0) return len;
    if (packet.version !== 6) return WireError.Malformed;
    const upper = findUpperLayer(packet.buffer);
    if (upper < 0) return -upper as WireError;
    const offset = upper & 0xffff;
    return new Ipv6Repr({
      srcAddr: packet.srcAddr.slice(),
      dstAddr: packet.dstAddr.slice(),
      nextHeader: upper >>> 16,
      payloadOffset: offset,
      payloadLen: IPV6_HEADER_LEN + packet.payloadLen - offset,
      hopLimit: packet.hopLimit,
    });
  }

  get bufferLen(): number {
    return IPV6_HEADER_LEN;
  }

  /** Writes the fixed header (no extension headers). */
  emit(packet: Ipv6Packet): void {
    writeIpv6Header(packet.buffer, 0, this.srcAddr, this.dstAddr, this.nextHeader, this.payloadLen, this.hopLimit);
  }
}

/**
 * Skips hop-by-hop, routing and destination-options headers of a checked
 * packet. Returns (protocol << 16 | offset), or -WireError: a fragment
 * header is Unsupported, a header running past the payload is Truncated.
 */
export function findUpperLayer(b: Uint8Array): number {
  const end = IPV6_HEADER_LEN + readU16(b, 4);
  let next = b[6] as number;
  let offset = IPV6_HEADER_LEN;
  for (let n = 0; n <= MAX_EXTENSION_HEADERS; n++) {
    if (next === IpProtocol.Ipv6Fragment) return -WireError.Unsupported;
    if (next !== IpProtocol.HopByHop && next !== IpProtocol.Ipv6Routing && next !== IpProtocol.Ipv6DestOptions) {
      return (next << 16) | offset;
    }
    if (offset + 8 > end) return -WireError.Truncated;
    const extLen = ((b[offset + 1] as number) + 1) * 8;
    if (offset + extLen > end) return -WireError.Truncated;
    next = b[offset] as number;
    offset += extLen;
  }
  return -WireError.Unsupported;
}

export function writeIpv6Header(
  b: Uint8Array,
  o: number,
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  payloadLen: number,
  hopLimit: number,
): void {
  writeU32(b, o, 0x60000000);
  writeU16(b, o + 4, payloadLen);
  b[o + 6] = nextHeader;
  b[o + 7] = hopLimit;
  b.set(src, o + IPV6_SRC_ADDR_OFFSET);
  b.set(dst, o + IPV6_DST_ADDR_OFFSET);
}
