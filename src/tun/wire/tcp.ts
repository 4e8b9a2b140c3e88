// TCP header (RFC 9293 §3.1): a view over bytes and a plain Repr.
// The Repr folds SYN/FIN/RST/PSH into one `control` value so that illegal
// combinations (SYN+FIN, SYN+RST, FIN+RST…) are rejected at parse time, and
// parses the options the stack cares about: MSS, window scale (RFC 7323),
// SACK-permitted and SACK blocks (RFC 2018), timestamps (RFC 7323).
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { checksum, finishChecksum, pseudoHeaderSum, sumBytes, verifyChecksum } from './checksum.js';
import { WireError, type WireResult } from './error.js';
import { IpProtocol } from './ip.js';

export const TCP_HEADER_LEN = 20;

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** SYN, FIN, RST and PSH folded: at most one of them is meaningful. */
export const TcpControl = { None: 0, Psh: 1, Syn: 2, Fin: 3, Rst: 4 } as const;
export type TcpControl = (typeof TcpControl)[keyof typeof TcpControl];

const OPT_END = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WINDOW_SCALE = 3;
const OPT_SACK_PERMITTED = 4;
const OPT_SACK = 5;
const OPT_TIMESTAMP = 8;
/** RFC 7323 §2.3: shifts above 14 are treated as 14. */
export const TCP_MAX_WINDOW_SCALE = 14;
export const TCP_MAX_SACK_BLOCKS = 4;

export class TcpPacket {
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
    if (b.length < TCP_HEADER_LEN) return WireError.Truncated;
    const headerLen = ((b[12] as number) >>> 4) * 4;
    if (headerLen < TCP_HEADER_LEN) return WireError.Malformed;
    if (headerLen > b.length) return WireError.Truncated;
    return 0;
  }

  get srcPort(): number {
    return readU16(this.buffer, 0);
  }
  get dstPort(): number {
    return readU16(this.buffer, 2);
  }
  get seqNumber(): number {
    return readU32(this.buffer, 4);
  }
  get ackNumber(): number {
    return readU32(this.buffer, 8);
  }
  get headerLen(): number {
    return ((this.buffer[12] as number) >>> 4) * 4;
  }
  /** The eight classic flag bits (TcpFlag). */
  get flags(): number {
    return this.buffer[13] as number;
  }
  get windowLen(): number {
    return readU16(this.buffer, 14);
  }
  get checksum(): number {
    return readU16(this.buffer, 16);
  }
  get urgentPointer(): number {
    return readU16(this.buffer, 18);
  }
  get options(): Uint8Array {
    return this.buffer.subarray(TCP_HEADER_LEN, this.headerLen);
  }
  get payloadOffset(): number {
    return this.headerLen;
  }
  get payloadLen(): number {
    return this.buffer.length - this.headerLen;
  }
  get payload(): Uint8Array {
    return this.buffer.subarray(this.headerLen);
  }
  /** Sequence space taken: payload plus one for SYN and one for FIN. */
  get segmentLen(): number {
    const f = this.flags;
    return this.payloadLen + (f & TcpFlag.SYN ? 1 : 0) + (f & TcpFlag.FIN ? 1 : 0);
  }
  verifyChecksum(src: Uint8Array, dst: Uint8Array): boolean {
    const b = this.buffer;
    return verifyChecksum(b, 0, b.length, pseudoHeaderSum(src, dst, IpProtocol.Tcp, b.length));
  }
  fillChecksum(src: Uint8Array, dst: Uint8Array): void {
    const b = this.buffer;
    writeU16(b, 16, 0);
    writeU16(b, 16, checksum(b, 0, b.length, pseudoHeaderSum(src, dst, IpProtocol.Tcp, b.length)));
  }
}

export interface TcpParseOptions {
  /** Verify the checksum against the pseudo-header (default true). */
  verifyChecksum?: boolean;
}

/**
 * A parsed or to-be-emitted TCP header. Mutable on purpose: the stack
 * parses every segment into one reused instance (`parseFrom`).
 */
export class TcpRepr {
  srcPort = 0;
  dstPort = 0;
  control: TcpControl = TcpControl.None;
  seqNumber = 0;
  /** Valid only when `hasAck`. */
  ackNumber = 0;
  hasAck = false;
  /** The raw 16-bit window field (unscaled). */
  windowLen = 0;
  /** Window-scale shift offered, or -1 if absent. */
  windowScale = -1;
  /** MSS option, or 0 if absent. */
  maxSegSize = 0;
  sackPermitted = false;
  /** Number of SACK blocks in `sackRanges`. */
  sackCount = 0;
  /** Left/right edge pairs: [l0, r0, l1, r1, …]. */
  readonly sackRanges = new Uint32Array(2 * TCP_MAX_SACK_BLOCKS);
  hasTimestamp = false;
  tsVal = 0;
  tsEcr = 0;
  /** ECN bits and URG are carried through but not acted on. */
  otherFlags = 0;
  /** Payload position inside the parsed TCP buffer. */
  payloadOffset = 0;
  payloadLen = 0;

  static parse(
    packet: TcpPacket,
    src: Uint8Array,
    dst: Uint8Array,
    options: TcpParseOptions = {},
  ): TcpRepr | WireError {
    const repr = new TcpRepr();
    const r = repr.parseFrom(packet, src, dst, options);
    return r === 0 ? repr : r;
  }

  /** Parses into this instance; 0 on success. Never throws. */
  parseFrom(packet: TcpPacket, src: Uint8Array, dst: Uint8Array, options: TcpParseOptions = {}): WireResult {
    const len = packet.checkLen();
    if (len !== 0) return len;
    const b = packet.buffer;
    if (packet.srcPort === 0 || packet.dstPort === 0) return WireError.Malformed;
    if (options.verifyChecksum !== false && !packet.verifyChecksum(src, dst)) return WireError.Checksum;
    const flags = packet.flags;
    const syn = (flags & TcpFlag.SYN) !== 0;
    const fin = (flags & TcpFlag.FIN) !== 0;
    const rst = (flags & TcpFlag.RST) !== 0;
    const psh = (flags & TcpFlag.PSH) !== 0;
    if (Number(syn) + Number(fin) + Number(rst) > 1) return WireError.Malformed;
    this.control = syn
      ? TcpControl.Syn
      : fin
        ? TcpControl.Fin
        : rst
          ? TcpControl.Rst
          : psh
            ? TcpControl.Psh
            : TcpControl.None;
    this.srcPort = packet.srcPort;
    this.dstPort = packet.dstPort;
    this.seqNumber = packet.seqNumber;
    this.hasAck = (flags & TcpFlag.ACK) !== 0;
    this.ackNumber = this.hasAck ? packet.ackNumber : 0;
    this.windowLen = packet.windowLen;
    this.otherFlags = flags & (TcpFlag.URG | TcpFlag.ECE | TcpFlag.CWR);
    this.payloadOffset = packet.headerLen;
    this.payloadLen = b.length - packet.headerLen;
    return this.#parseOptions(b, TCP_HEADER_LEN, packet.headerLen);
  }

  #parseOptions(b: Uint8Array, start: number, end: number): WireResult {
    this.windowScale = -1;
    this.maxSegSize = 0;
    this.sackPermitted = false;
    this.sackCount = 0;
    this.hasTimestamp = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    let i = start;
    while (i < end) {
      const kind = b[i] as number;
      if (kind === OPT_END) break;
      if (kind === OPT_NOP) {
        i++;
        continue;
      }
      if (i + 1 >= end) return WireError.Malformed;
      const len = b[i + 1] as number;
      if (len < 2 || i + len > end) return WireError.Malformed;
      switch (kind) {
        case OPT_MSS:
          if (len !== 4) return WireError.Malformed;
          this.maxSegSize = readU16(b, i + 2);
          if (this.maxSegSize === 0) return WireError.Malformed;
          break;
        case OPT_WINDOW_SCALE:
          if (len !== 3) return WireError.Malformed;
          this.windowScale = Math.min(b[i + 2] as number, TCP_MAX_WINDOW_SCALE);
          break;
        case OPT_SACK_PERMITTED:
          if (len !== 2) return WireError.Malformed;
          this.sackPermitted = true;
          break;
        case OPT_SACK: {
          if ((len - 2) % 8 !== 0 || len === 2) return WireError.Malformed;
          const blocks = Math.min((len - 2) / 8, TCP_MAX_SACK_BLOCKS);
          for (let k = 0; k < blocks; k++) {
            this.sackRanges[2 * k] = readU32(b, i + 2 + 8 * k);
            this.sackRanges[2 * k + 1] = readU32(b, i + 6 + 8 * k);
          }
          this.sackCount = blocks;
          break;
        }
        case OPT_TIMESTAMP:
          if (len !== 10) return WireError.Malformed;
          this.hasTimestamp = true;
          this.tsVal = readU32(b, i + 2);
          this.tsEcr = readU32(b, i + 6);
          break;
        default:
          // RFC 9293 §3.1: unknown options are skipped by their length.
          break;
      }
      i += len;
    }
    return 0;
  }

  /** Sequence space this segment takes. */
  get segmentLen(): number {
    return this.payloadLen + (this.control === TcpControl.Syn || this.control === TcpControl.Fin ? 1 : 0);
  }

  /** Options length, padded to a multiple of 4. */
  get optionsLen(): number {
    let n = 0;
    if (this.maxSegSize > 0) n += 4;
    if (this.windowScale >= 0) n += 4; // NOP + 3
    // SACK-permitted and timestamps share one 12-byte word run when both
    // are present (the layout Linux uses), else each is NOP-padded.
    if (this.sackPermitted && this.hasTimestamp) n += 12;
    else if (this.sackPermitted || this.hasTimestamp) n += this.hasTimestamp ? 12 : 4;
    if (this.sackCount > 0) n += 4 + 8 * this.sackCount; // NOP NOP + 2 + 8n
    return n;
  }

  get headerLen(): number {
    return TCP_HEADER_LEN + this.optionsLen;
  }

  get bufferLen(): number {
    return this.headerLen + this.payloadLen;
  }

  /** The eight flag bits this repr encodes. */
  get flags(): number {
    let f = this.otherFlags;
    if (this.hasAck) f |= TcpFlag.ACK;
    switch (this.control) {
      case TcpControl.Syn:
        f |= TcpFlag.SYN;
        break;
      case TcpControl.Fin:
        f |= TcpFlag.FIN;
        break;
      case TcpControl.Rst:
        f |= TcpFlag.RST;
        break;
      case TcpControl.Psh:
        f |= TcpFlag.PSH;
        break;
    }
    return f;
  }

  /**
   * Writes header and options at `o` in `b`. The payload (payloadLen bytes
   * right after the header) is the caller's; the checksum is left 0 (see
   * `fillTcpChecksum`).
   */
  emitHeader(b: Uint8Array, o: number): void {
    const headerLen = this.headerLen;
    writeU16(b, o, this.srcPort);
    writeU16(b, o + 2, this.dstPort);
    writeU32(b, o + 4, this.seqNumber);
    writeU32(b, o + 8, this.hasAck ? this.ackNumber : 0);
    b[o + 12] = (headerLen / 4) << 4;
    b[o + 13] = this.flags;
    writeU16(b, o + 14, this.windowLen);
    writeU16(b, o + 16, 0);
    writeU16(b, o + 18, 0);
    let i = o + TCP_HEADER_LEN;
    if (this.maxSegSize > 0) {
      b[i] = OPT_MSS;
      b[i + 1] = 4;
      writeU16(b, i + 2, this.maxSegSize);
      i += 4;
    }
    if (this.hasTimestamp) {
      if (this.sackPermitted) {
        b[i] = OPT_SACK_PERMITTED;
        b[i + 1] = 2;
      } else {
        b[i] = OPT_NOP;
        b[i + 1] = OPT_NOP;
      }
      b[i + 2] = OPT_TIMESTAMP;
      b[i + 3] = 10;
      writeU32(b, i + 4, this.tsVal);
      writeU32(b, i + 8, this.tsEcr);
      i += 12;
    } else if (this.sackPermitted) {
      b[i] = OPT_NOP;
      b[i + 1] = OPT_NOP;
      b[i + 2] = OPT_SACK_PERMITTED;
      b[i + 3] = 2;
      i += 4;
    }
    if (this.windowScale >= 0) {
      b[i] = OPT_NOP;
      b[i + 1] = OPT_WINDOW_SCALE;
      b[i + 2] = 3;
      b[i + 3] = this.windowScale;
      i += 4;
    }
    if (this.sackCount > 0) {
      b[i] = OPT_NOP;
      b[i + 1] = OPT_NOP;
      b[i + 2] = OPT_SACK;
      b[i + 3] = 2 + 8 * this.sackCount;
      for (let k = 0; k < this.sackCount; k++) {
        writeU32(b, i + 4 + 8 * k, this.sackRanges[2 * k] as number);
        writeU32(b, i + 8 + 8 * k, this.sackRanges[2 * k + 1] as number);
      }
      i += 4 + 8 * this.sackCount;
    }
  }

  /** Emits header, `payload` (if given) and the checksum into a view of exactly bufferLen bytes. */
  emit(packet: TcpPacket, src: Uint8Array, dst: Uint8Array, payload?: Uint8Array): void {
    this.emitHeader(packet.buffer, 0);
    if (payload) packet.buffer.set(payload, this.headerLen);
    packet.fillChecksum(src, dst);
  }

  /** Resets every field, for reuse. */
  clear(): this {
    this.srcPort = 0;
    this.dstPort = 0;
    this.control = TcpControl.None;
    this.seqNumber = 0;
    this.ackNumber = 0;
    this.hasAck = false;
    this.windowLen = 0;
    this.windowScale = -1;
    this.maxSegSize = 0;
    this.sackPermitted = false;
    this.sackCount = 0;
    this.hasTimestamp = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.otherFlags = 0;
    this.payloadOffset = 0;
    this.payloadLen = 0;
    return this;
  }
}

/** Computes and stores the TCP checksum of `b[o, o+len)` (header + payload). */
export function fillTcpChecksum(b: Uint8Array, o: number, len: number, src: Uint8Array, dst: Uint8Array): void {
  writeU16(b, o + 16, 0);
  const sum = sumBytes(b, o, len, pseudoHeaderSum(src, dst, IpProtocol.Tcp, len));
  writeU16(b, o + 16, finishChecksum(sum));
}
