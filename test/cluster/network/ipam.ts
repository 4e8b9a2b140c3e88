// IPv4 arithmetic and the two allocators of the world: ClusterIPs from the
// service CIDR (random, like the real allocator) and pod IPs from each
// node's /24.

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return Number.NaN;
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  base: number;
  bits: number;
  size: number;
}

export function parseCidr(cidr: string): Cidr {
  const [ip, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (ipToInt(ip ?? '') & mask) >>> 0, bits, size: 2 ** (32 - bits) };
}

export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const n = ipToInt(ip);
  return !Number.isNaN(n) && n >= c.base && n < c.base + c.size;
}

export class ClusterIpAllocator {
  readonly cidr: string;
  #c: Cidr;
  #used = new Set<string>();

  constructor(cidr: string) {
    this.cidr = cidr;
    this.#c = parseCidr(cidr);
  }

  /** 'range' if outside the CIDR (or network/broadcast), 'taken' if in use. */
  reserve(ip: string): 'ok' | 'range' | 'taken' {
    const n = ipToInt(ip);
    if (Number.isNaN(n) || n <= this.#c.base || n >= this.#c.base + this.#c.size - 1) return 'range';
    if (this.#used.has(ip)) return 'taken';
    this.#used.add(ip);
    return 'ok';
  }

  allocate(): string {
    for (;;) {
      const n = this.#c.base + 1 + Math.floor(Math.random() * (this.#c.size - 2));
      const ip = intToIp(n);
      if (!this.#used.has(ip)) {
        this.#used.add(ip);
        return ip;
      }
    }
  }

  release(ip: string): void {
    this.#used.delete(ip);
  }
}

/** Pod IPs of one node: .1 is the bridge, then .2 upwards, reused after release. */
export class PodIpAllocator {
  #c: Cidr;
  #used = new Set<number>();

  constructor(cidr: string) {
    this.#c = parseCidr(cidr);
  }

  get gateway(): string {
    return intToIp(this.#c.base + 1);
  }

  allocate(): string {
    for (let i = 2; i < this.#c.size - 1; i++) {
      if (!this.#used.has(i)) {
        this.#used.add(i);
        return intToIp(this.#c.base + i);
      }
    }
    throw new Error('pod CIDR exhausted');
  }

  release(ip: string): void {
    this.#used.delete(ipToInt(ip) - this.#c.base);
  }
}
