// CIDR arithmetic for route planning, IPv4 and IPv6 alike: addresses are
// bigints (net/ip.ts's IpNumber), a prefix is (family, base, length). Pure
// functions only; the session decides what to route, this file only computes.
import { formatIpNumber, IpParseError, parseIpNumber } from './ip.js';

export interface Cidr {
  family: 4 | 6;
  /** Network address (host bits zero). */
  base: bigint;
  length: number;
}

/** A CIDR that does not parse; an IpParseError, so one catch serves both. */
export class CidrParseError extends IpParseError {}

const BITS = { 4: 32, 6: 128 } as const;

export function bits(family: 4 | 6): number {
  return BITS[family];
}

function mask(family: 4 | 6, length: number): bigint {
  const total = BigInt(BITS[family]);
  return ((1n << total) - 1n) ^ ((1n << (total - BigInt(length))) - 1n);
}

/** Parses "10.96.0.0/12", "fd00::/108" or a bare address (a host prefix). Host bits are cleared. */
export function parseCidr(text: string): Cidr {
  const [addr, len, extra] = text.trim().split('/');
  if (addr === undefined || extra !== undefined) throw new CidrParseError(`"${text}" is not a CIDR`);
  const { family, value } = parseIpNumber(addr);
  const length = len === undefined ? BITS[family] : Number(len);
  if (!/^\d+$/.test(len ?? '0') || !Number.isInteger(length) || length < 0 || length > BITS[family]) {
    throw new CidrParseError(`"${text}" has an invalid prefix length`);
  }
  return { family, base: value & mask(family, length), length };
}

export function isCidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}

export function formatCidr(c: Cidr): string {
  return `${formatIpNumber(c.family, c.base)}/${c.length}`;
}

export function containsIp(c: Cidr, family: 4 | 6, value: bigint): boolean {
  return c.family === family && (value & mask(family, c.length)) === c.base;
}

/** True when `outer` contains all of `inner`. */
export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.length <= inner.length && containsIp(outer, inner.family, inner.base);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return containsCidr(a, b) || containsCidr(b, a);
}

/** The prefix of `length` bits that contains the address. */
export function around(family: 4 | 6, value: bigint, length: number): Cidr {
  return { family, base: value & mask(family, length), length };
}

/**
 * `range` minus `hole`: the prefixes that cover what is left (at most one
 * per bit between the two lengths). Disjoint inputs return `range` itself.
 */
export function subtract(range: Cidr, hole: Cidr): Cidr[] {
  if (!overlaps(range, hole)) return [range];
  if (containsCidr(hole, range)) return [];
  const out: Cidr[] = [];
  let current = range;
  while (current.length < hole.length) {
    const length = current.length + 1;
    const half = 1n << BigInt(BITS[range.family] - length);
    const low: Cidr = { family: range.family, base: current.base, length };
    const high: Cidr = { family: range.family, base: current.base | half, length };
    if (containsCidr(low, hole)) {
      out.push(high);
      current = low;
    } else {
      out.push(low);
      current = high;
    }
  }
  return out.sort(compare);
}

export function compare(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.base !== b.base) return a.base < b.base ? -1 : 1;
  return a.length - b.length;
}

/**
 * Normalizes a set: drops prefixes contained in others and joins sibling
 * halves into their parent, so the result is the smallest list of prefixes
 * covering exactly the same addresses.
 */
export function merge(cidrs: readonly Cidr[]): Cidr[] {
  let list = [...cidrs].sort(compare);
  for (;;) {
    const out: Cidr[] = [];
    for (const c of list) {
      const last = out[out.length - 1];
      if (last && containsCidr(last, c)) continue;
      out.push(c);
    }
    let joined = false;
    const result: Cidr[] = [];
    for (let i = 0; i < out.length; i++) {
      const a = out[i] as Cidr;
      const b = out[i + 1];
      if (b && a.family === b.family && a.length === b.length && a.length > 0) {
        const parent = around(a.family, a.base, a.length - 1);
        if (parent.base === a.base && containsCidr(parent, b)) {
          result.push(parent);
          i++;
          joined = true;
          continue;
        }
      }
      result.push(a);
    }
    list = result.sort(compare);
    if (!joined) return list;
  }
}

/** Every prefix of `ranges` with all of `holes` taken out. */
export function subtractAll(ranges: readonly Cidr[], holes: readonly Cidr[]): Cidr[] {
  let current = merge(ranges);
  for (const hole of holes) current = current.flatMap((r) => subtract(r, hole));
  return merge(current);
}
