// Internet checksum (RFC 1071) with the TCP/UDP/ICMPv6 pseudo-headers and
// the incremental update of RFC 1624.
//
// Sums are kept unfolded (a plain number, exact up to 2^53) until
// `foldChecksum`. Long aligned runs are summed as native 32-bit words: the
// one's-complement sum is byte-order independent (RFC 1071 §2(B)), and a
// 32-bit word is congruent to the sum of its two 16-bit halves mod 0xffff,
// so on a little-endian host the total only needs one fold and one byte swap.
import os from 'node:os';

const LITTLE_ENDIAN = os.endianness() === 'LE';
/** Below this many bytes the word loop beats setting up a Uint32Array. */
const WIDE_SUM_MIN_BYTES = 128;

function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

/** The unfolded big-endian 16-bit word sum of `buf[offset, offset+length)`. */
export function sumBytes(buf: Uint8Array, offset: number, length: number, initial = 0): number {
  let sum = initial;
  let i = offset;
  const end = offset + length;
  const absolute = buf.byteOffset + i;
  if (LITTLE_ENDIAN && length >= WIDE_SUM_MIN_BYTES && (absolute & 1) === 0) {
    if ((absolute & 2) !== 0) {
      sum += ((buf[i] as number) << 8) | (buf[i + 1] as number);
      i += 2;
    }
    const words = (end - i) >>> 2;
    const wide = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    let le = 0;
    for (let k = 0; k < words; k++) le += wide[k] as number;
    const folded = fold(le);
    sum += ((folded & 0xff) << 8) | (folded >>> 8);
    i += words * 4;
  }
  for (; i + 1 < end; i += 2) sum += ((buf[i] as number) << 8) | (buf[i + 1] as number);
  if (i < end) sum += (buf[i] as number) << 8;
  return sum;
}

/** Folds an unfolded sum to 16 bits (without complementing). */
export function foldChecksum(sum: number): number {
  return fold(sum);
}

/** The checksum field value for data whose unfolded sum is `sum`. */
export function finishChecksum(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** RFC 1071 checksum of a byte range (the value to store in the header). */
export function checksum(buf: Uint8Array, offset: number, length: number, initial = 0): number {
  return finishChecksum(sumBytes(buf, offset, length, initial));
}

/** True if the range, checksum field included, sums to 0xffff. */
export function verifyChecksum(buf: Uint8Array, offset: number, length: number, initial = 0): boolean {
  return fold(sumBytes(buf, offset, length, initial)) === 0xffff;
}

/** Unfolded sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768). */
export function pseudoHeaderSumV4(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  return (
    (((src[0] as number) << 8) | (src[1] as number)) +
    (((src[2] as number) << 8) | (src[3] as number)) +
    (((dst[0] as number) << 8) | (dst[1] as number)) +
    (((dst[2] as number) << 8) | (dst[3] as number)) +
    protocol +
    length
  );
}

/** Unfolded sum of the IPv6 pseudo-header (RFC 8200 §8.1). */
export function pseudoHeaderSumV6(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number): number {
  let sum = nextHeader + (length >>> 16) + (length & 0xffff);
  for (let i = 0; i < 16; i += 2) {
    sum += (((src[i] as number) << 8) | (src[i + 1] as number)) + (((dst[i] as number) << 8) | (dst[i + 1] as number));
  }
  return sum;
}

/** Pseudo-header sum for either family (address length picks it). */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  return src.length === 4
    ? pseudoHeaderSumV4(src, dst, protocol, length)
    : pseudoHeaderSumV6(src, dst, protocol, length);
}

/**
 * RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered
 * data changed from `oldWord` to `newWord`: HC' = ~(~HC + ~m + m').
 */
export function updateChecksum16(oldChecksum: number, oldWord: number, newWord: number): number {
  return ~fold((~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/** RFC 1624 for a 32-bit field (two words), e.g. an IPv4 address or a sequence number. */
export function updateChecksum32(oldChecksum: number, oldValue: number, newValue: number): number {
  const hi = updateChecksum16(oldChecksum, oldValue >>> 16, newValue >>> 16);
  return updateChecksum16(hi, oldValue & 0xffff, newValue & 0xffff);
}
