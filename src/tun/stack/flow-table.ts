// Connections and flows keyed by their 4-tuple, looked up straight from
// packet bytes: a 32-bit hash of the addresses and ports picks a bucket, a
// short chain resolves collisions. No key strings, no allocation per packet.
export interface FlowEntry<T> {
  readonly localAddr: Uint8Array;
  readonly localPort: number;
  readonly remoteAddr: Uint8Array;
  readonly remotePort: number;
  hash: number;
  nextInBucket: T | null;
}

/** FNV-1a over remote address, local address and both ports. */
export function flowHash(
  buf: Uint8Array,
  remoteOffset: number,
  localOffset: number,
  addrLen: number,
  remotePort: number,
  localPort: number,
): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < addrLen; i++) h = Math.imul(h ^ (buf[remoteOffset + i] as number), 0x01000193);
  for (let i = 0; i < addrLen; i++) h = Math.imul(h ^ (buf[localOffset + i] as number), 0x01000193);
  h = Math.imul(h ^ remotePort, 0x01000193);
  h = Math.imul(h ^ localPort, 0x01000193);
  return h >>> 0;
}

function sameAt(addr: Uint8Array, buf: Uint8Array, offset: number): boolean {
  for (let i = 0; i < addr.length; i++) if (addr[i] !== buf[offset + i]) return false;
  return true;
}

export class FlowTable<T extends FlowEntry<T>> {
  readonly #buckets = new Map<number, T>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The entry whose remote side is (buf[remoteOffset..], remotePort) and local side (buf[localOffset..], localPort). */
  find(
    buf: Uint8Array,
    remoteOffset: number,
    localOffset: number,
    addrLen: number,
    remotePort: number,
    localPort: number,
    hash: number,
  ): T | null {
    let e = this.#buckets.get(hash) ?? null;
    while (e !== null) {
      if (
        e.remotePort === remotePort &&
        e.localPort === localPort &&
        e.remoteAddr.length === addrLen &&
        sameAt(e.remoteAddr, buf, remoteOffset) &&
        sameAt(e.localAddr, buf, localOffset)
      ) {
        return e;
      }
      e = e.nextInBucket;
    }
    return null;
  }

  /** Adds an entry whose `hash` is set (flowHash of its tuple). */
  add(entry: T): void {
    entry.nextInBucket = this.#buckets.get(entry.hash) ?? null;
    this.#buckets.set(entry.hash, entry);
    this.#size++;
  }

  remove(entry: T): boolean {
    let e = this.#buckets.get(entry.hash) ?? null;
    let prev: T | null = null;
    while (e !== null) {
      if (e === entry) {
        if (prev === null) {
          if (e.nextInBucket === null) this.#buckets.delete(entry.hash);
          else this.#buckets.set(entry.hash, e.nextInBucket);
        } else prev.nextInBucket = e.nextInBucket;
        entry.nextInBucket = null;
        this.#size--;
        return true;
      }
      prev = e;
      e = e.nextInBucket;
    }
    return false;
  }

  *values(): IterableIterator<T> {
    for (const head of this.#buckets.values()) {
      let e: T | null = head;
      while (e !== null) {
        const next: T | null = e.nextInBucket;
        yield e;
        e = next;
      }
    }
  }
}

/** flowHash for an entry's own tuple (used when adding). */
export function entryHash(
  localAddr: Uint8Array,
  localPort: number,
  remoteAddr: Uint8Array,
  remotePort: number,
): number {
  const n = localAddr.length;
  const tmp = new Uint8Array(2 * n);
  tmp.set(remoteAddr, 0);
  tmp.set(localAddr, n);
  return flowHash(tmp, 0, n, n, remotePort, localPort);
}
