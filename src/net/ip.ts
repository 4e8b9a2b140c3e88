// IP addresses, kvpn's one parser and formatter. Two forms: raw bytes (4 or
// 16), the form packets carry, and a number (family + bigint), the form CIDR
// arithmetic uses (net/cidr.ts). Formatting is canonical (RFC 5952 for IPv6).

export type IpFamily = 4 | 6;

/** An address as a number: what prefix arithmetic works on. */
export interface IpNumber {
  family: IpFamily;
  value: bigint;
}

export class IpParseError extends Error {}

/** Parses a v4 dotted quad or a v6 literal; null if it is neither. */
export function parseIp(text: string): Uint8Array | null {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

export function parseIpv6(text: string): Uint8Array | null {
  const zone = text.indexOf('%');
  const s = zone >= 0 ? text.slice(0, zone) : text;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const words: number[][] = [];
  for (const half of halves) {
    const ws: number[] = [];
    if (half !== '') {
      const groups = half.split(':');
      for (let i = 0; i < groups.length; i++) {
        const g = groups[i] as string;
        if (i === groups.length - 1 && g.includes('.')) {
          const v4 = parseIpv4(g);
          if (!v4) return null;
          ws.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
        } else {
          if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
          ws.push(Number.parseInt(g, 16));
        }
      }
    }
    words.push(ws);
  }
  const head = words[0] ?? [];
  const tail = words[1] ?? [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...new Array<number>(halves.length === 1 ? 0 : missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = (all[i] as number) >>> 8;
    out[2 * i + 1] = (all[i] as number) & 0xff;
  }
  return out;
}

export function formatIp(addr: Uint8Array): string {
  if (addr.length === 4) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((addr[i] as number) << 8) | (addr[i + 1] as number));
  // Longest run of two or more zero words becomes "::" (RFC 5952 §4.2).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

export function ipEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Parses either family into its numeric form; throws IpParseError when `text` is not an address. */
export function parseIpNumber(text: string): IpNumber {
  const bytes = parseIp(text);
  if (!bytes) throw new IpParseError(`"${text}" is not an IP address`);
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return { family: bytes.length === 4 ? 4 : 6, value };
}

export function formatIpNumber(family: IpFamily, value: bigint): string {
  const bytes = new Uint8Array(family === 4 ? 4 : 16);
  let rest = value;
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return formatIp(bytes);
}
