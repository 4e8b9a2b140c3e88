// TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4, RFC 1982).
// Sequence numbers are plain unsigned 32-bit numbers; comparisons look at
// the signed 32-bit distance, so they hold across wrap-around as long as the
// two numbers are less than 2^31 apart.
export const SeqNumber = {
  /** a + n, wrapped to 32 bits. */
  add(a: number, n: number): number {
    return (a + n) >>> 0;
  },
  /** The signed distance a - b (negative when a is before b). */
  sub(a: number, b: number): number {
    return (a - b) | 0;
  },
  lt(a: number, b: number): boolean {
    return ((a - b) | 0) < 0;
  },
  le(a: number, b: number): boolean {
    return ((a - b) | 0) <= 0;
  },
  gt(a: number, b: number): boolean {
    return ((a - b) | 0) > 0;
  },
  ge(a: number, b: number): boolean {
    return ((a - b) | 0) >= 0;
  },
  max(a: number, b: number): number {
    return ((a - b) | 0) >= 0 ? a : b;
  },
  min(a: number, b: number): number {
    return ((a - b) | 0) <= 0 ? a : b;
  },
  /** lo <= x < hi, modulo 2^32. */
  inRange(x: number, lo: number, hi: number): boolean {
    return ((x - lo) | 0) >= 0 && ((x - hi) | 0) < 0;
  },
} as const;
