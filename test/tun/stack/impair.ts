// Test-only impairment for the TUN path: wraps a TunDevice and applies
// seeded loss, duplication, reordering and delay to packets in both
// directions (kernel → stack on read, stack → kernel on write). The same
// seed gives the same decisions for the same packet sequence.
import type { PacketBatchHandler, TunDevice, TunDeviceStats } from '../../../src/tun/device.js';

export interface ImpairmentProfile {
  /** Probability a packet is dropped. */
  loss?: number;
  /** Probability a packet is delivered twice. */
  duplicate?: number;
  /** Probability a packet is held back by `reorderMs` so later ones overtake it. */
  reorder?: number;
  reorderMs?: number;
  /** Every packet is delayed by delayMs plus up to jitterMs (order kept unless jitter). */
  delayMs?: number;
  jitterMs?: number;
}

export interface ImpairmentOptions {
  seed: number;
  /** Kernel → stack (what the application sends). */
  inbound?: ImpairmentProfile;
  /** Stack → kernel (what the stack answers). */
  outbound?: ImpairmentProfile;
}

export interface ImpairmentStats {
  dropped: number;
  duplicated: number;
  reordered: number;
  delayed: number;
}

interface Held {
  at: number;
  packet: Uint8Array;
}

class Direction {
  readonly stats: ImpairmentStats = { dropped: 0, duplicated: 0, reordered: 0, delayed: 0 };
  readonly #p: Required<ImpairmentProfile>;
  readonly #rand: () => number;
  readonly #deliver: (packets: Uint8Array[]) => void;
  #held: Held[] = [];
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(profile: ImpairmentProfile, rand: () => number, deliver: (packets: Uint8Array[]) => void) {
    this.#p = { loss: 0, duplicate: 0, reorder: 0, reorderMs: 5, delayMs: 0, jitterMs: 0, ...profile };
    this.#rand = rand;
    this.#deliver = deliver;
  }

  /** Returns the packets to pass on now; the rest are dropped or held (copied). */
  apply(packets: readonly Uint8Array[]): Uint8Array[] {
    const now = Date.now();
    const p = this.#p;
    const pass: Uint8Array[] = [];
    for (const packet of packets) {
      if (this.#rand() < p.loss) {
        this.stats.dropped++;
        continue;
      }
      const copies = this.#rand() < p.duplicate ? 2 : 1;
      if (copies === 2) this.stats.duplicated++;
      for (let c = 0; c < copies; c++) {
        let delay = p.delayMs + (p.jitterMs > 0 ? this.#rand() * p.jitterMs : 0);
        if (this.#rand() < p.reorder) {
          delay += p.reorderMs;
          this.stats.reordered++;
        }
        if (delay <= 0) pass.push(packet);
        else {
          this.stats.delayed++;
          this.#hold({ at: now + delay, packet: packet.slice() });
        }
      }
    }
    return pass;
  }

  #hold(h: Held): void {
    let i = this.#held.length;
    while (i > 0 && (this.#held[i - 1] as Held).at > h.at) i--;
    this.#held.splice(i, 0, h);
    this.#arm();
  }

  #arm(): void {
    if (this.#closed || this.#timer !== null || this.#held.length === 0) return;
    const wait = Math.max(0, (this.#held[0] as Held).at - Date.now());
    this.#timer = setTimeout(this.#release, wait);
  }

  readonly #release = (): void => {
    this.#timer = null;
    const now = Date.now();
    const due: Uint8Array[] = [];
    while (this.#held.length > 0 && (this.#held[0] as Held).at <= now) due.push((this.#held.shift() as Held).packet);
    if (due.length > 0 && !this.#closed) this.#deliver(due);
    this.#arm();
  };

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#held = [];
  }
}

/** mulberry32: small, fast, seeded. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class ImpairedDevice implements TunDevice {
  readonly #inner: TunDevice;
  readonly #in: Direction;
  readonly #out: Direction;
  #handler: PacketBatchHandler | null = null;

  constructor(inner: TunDevice, options: ImpairmentOptions) {
    this.#inner = inner;
    const rand = seededRandom(options.seed);
    this.#in = new Direction(options.inbound ?? {}, rand, (p) => this.#handler?.(p));
    this.#out = new Direction(options.outbound ?? {}, rand, (p) => this.#inner.writeBatch(p));
  }

  get name(): string {
    return this.#inner.name;
  }
  get mtu(): number {
    return this.#inner.mtu;
  }
  get stats(): TunDeviceStats {
    return this.#inner.stats;
  }
  get impairment(): { inbound: ImpairmentStats; outbound: ImpairmentStats } {
    return { inbound: this.#in.stats, outbound: this.#out.stats };
  }

  onPackets(handler: PacketBatchHandler): void {
    this.#handler = handler;
    this.#inner.onPackets((packets) => {
      const pass = this.#in.apply(packets);
      if (pass.length > 0) handler(pass);
    });
  }
  pause(): void {
    this.#inner.pause();
  }
  resume(): void {
    this.#inner.resume();
  }
  writeBatch(packets: readonly Uint8Array[]): boolean {
    const pass = this.#out.apply(packets);
    return pass.length > 0 ? this.#inner.writeBatch(pass) : true;
  }
  onDrain(callback: () => void): void {
    this.#inner.onDrain(callback);
  }
  close(): void {
    this.#in.close();
    this.#out.close();
    this.#inner.close();
  }
}
