// The 8-byte header ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) share: type,
// code, checksum, then 4 bytes whose meaning depends on the type (echo
// identifier and sequence number, MTU, unused). Each version's view extends
// this with what differs (the checksum's pseudo-header, MTU fields).
import { readU16 } from './bytes.js';
import { WireError, type WireResult } from './error.js';

export const ICMP_HEADER_LEN = 8;

export class IcmpHeaderView {
  buffer: Uint8Array;

  constructor(buffer: Uint8Array) {
    this.buffer = buffer;
  }

  reset(buffer: Uint8Array): this {
    this.buffer = buffer;
    return this;
  }

  checkLen(): WireResult {
    return this.buffer.length < ICMP_HEADER_LEN ? WireError.Truncated : 0;
  }

  get msgType(): number {
    return this.buffer[0] as number;
  }
  get code(): number {
    return this.buffer[1] as number;
  }
  get checksum(): number {
    return readU16(this.buffer, 2);
  }
  get echoIdent(): number {
    return readU16(this.buffer, 4);
  }
  get echoSeqNo(): number {
    return readU16(this.buffer, 6);
  }
  /** Echo data, or the quoted datagram of an error. */
  get data(): Uint8Array {
    return this.buffer.subarray(ICMP_HEADER_LEN);
  }
}
