// Domain-name helpers for the zone: lower-case dotted names without the
// trailing dot, reverse (PTR) names of IP addresses, and the dashed form
// Kubernetes DNS uses for addresses inside names (10-1-2-3, 2001-db8--1).
import { isIPv4, isIPv6 } from 'node:net';

/** Lower case, no trailing dot. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** True if `name` is `zone` or below it. Both normalized. */
export function inZone(name: string, zone: string): boolean {
  if (zone === '') return true;
  return (
    name === zone || (name.length > zone.length && name.endsWith(zone) && name[name.length - zone.length - 1] === '.')
  );
}

/** The labels of `name` above `zone`, outermost last ("a.b.zone" → ["a", "b"]). */
export function labelsAbove(name: string, zone: string): string[] {
  if (name === zone) return [];
  return name.slice(0, name.length - zone.length - 1).split('.');
}

/** The ancestors of `name` down to and including `zone` ("a.b.zone" → ["b.zone", "zone"]). */
export function ancestors(name: string, zone: string): string[] {
  const out: string[] = [];
  let rest = name;
  while (rest !== zone) {
    const dot = rest.indexOf('.');
    if (dot < 0) break;
    rest = rest.slice(dot + 1);
    out.push(rest);
  }
  return out;
}

/** Expands an IPv6 literal to 8 groups of 4 hex digits; undefined if invalid. */
export function expandIPv6(ip: string): string[] | undefined {
  if (!isIPv6(ip)) return undefined;
  let text = ip.toLowerCase().split('%')[0] ?? '';
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = v4[1].split('.').map(Number);
    text = `${text.slice(0, -v4[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0');
  const groups = [...h, ...fill, ...t];
  if (groups.length !== 8) return undefined;
  return groups.map((g) => g.padStart(4, '0'));
}

/** The canonical (RFC 5952) text of an address, so equal addresses compare equal. */
export function canonicalIp(ip: string): string | undefined {
  if (isIPv4(ip)) return ip;
  const groups = expandIPv6(ip);
  if (!groups) return undefined;
  const short = groups.map((g) => g.replace(/^0+(?=.)/, ''));
  // Longest run of two or more zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (short[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && short[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return short.join(':');
  return `${short.slice(0, best).join(':')}::${short.slice(best + bestLen).join(':')}`;
}

/** The PTR name of an address: 10.0.96.10.in-addr.arpa, or nibbles under ip6.arpa. */
export function reverseName(ip: string): string | undefined {
  if (isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const groups = expandIPv6(ip);
  if (!groups) return undefined;
  return `${groups.join('').split('').reverse().join('.')}.ip6.arpa`;
}

/** 10.1.2.3 → 10-1-2-3; 2001:db8::1 → 2001-db8--1 (as Kubernetes DNS writes them). */
export function dashedIp(ip: string): string {
  return (canonicalIp(ip) ?? ip).replaceAll('.', '-').replaceAll(':', '-');
}

export function isReverseName(name: string): boolean {
  return inZone(name, 'in-addr.arpa') || inZone(name, 'ip6.arpa');
}

/**
 * Reverse zones covering a CIDR, for routing PTR lookups of cluster ranges
 * (10.96.0.0/12 → 96..111.10.in-addr.arpa; v6 on nibble boundaries).
 */
export function reverseZonesOf(cidr: string): string[] {
  const [ip = '', bitsText = ''] = cidr.split('/');
  const bits = Number(bitsText);
  if (isIPv4(ip) && Number.isInteger(bits) && bits >= 0 && bits <= 32) {
    const octets = ip.split('.').map(Number);
    const whole = Math.floor(bits / 8);
    const rest = bits % 8;
    const base = octets.slice(0, whole);
    if (rest === 0) return [[...[...base].reverse(), 'in-addr', 'arpa'].join('.')];
    const next = octets[whole] ?? 0;
    const span = 1 << (8 - rest);
    const start = next & ~(span - 1) & 0xff;
    const out: string[] = [];
    for (let v = start; v < start + span; v++) out.push(`${[...base, v].reverse().join('.')}.in-addr.arpa`);
    return out;
  }
  const groups = expandIPv6(ip);
  if (groups && Number.isInteger(bits) && bits >= 0 && bits <= 128) {
    const nibbles = groups.join('').split('');
    const whole = Math.floor(bits / 4);
    const rest = bits % 4;
    const base = nibbles.slice(0, whole);
    const suffix = (n: string[]) => [...[...n].reverse(), 'ip6', 'arpa'].join('.');
    if (rest === 0) return [suffix(base)];
    const next = Number.parseInt(nibbles[whole] ?? '0', 16);
    const span = 1 << (4 - rest);
    const start = next & ~(span - 1);
    const out: string[] = [];
    for (let v = start; v < start + span; v++) out.push(suffix([...base, v.toString(16)]));
    return out;
  }
  return [];
}
