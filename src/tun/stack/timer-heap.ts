// The stack's one timer: every connection and UDP flow with a deadline sits
// in this binary min-heap; the edge arms a single setTimeout for the
// earliest. Items carry their own heap index, so rescheduling on every ACK
// is O(log n) with no allocation.
export interface Timed {
  /** Absolute ms; Infinity means "no timer" (the item leaves the heap). */
  deadline: number;
  heapIndex: number;
}

export class TimerHeap<T extends Timed> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  /** Earliest deadline, or Infinity. */
  get nextDeadline(): number {
    return this.#items.length > 0 ? (this.#items[0] as T).deadline : Number.POSITIVE_INFINITY;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  /** Inserts, moves or removes `item` after its deadline changed. */
  update(item: T): void {
    if (item.deadline === Number.POSITIVE_INFINITY) {
      this.remove(item);
      return;
    }
    if (item.heapIndex < 0) {
      item.heapIndex = this.#items.length;
      this.#items.push(item);
      this.#up(item.heapIndex);
      return;
    }
    this.#down(this.#up(item.heapIndex));
  }

  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const last = this.#items.pop() as T;
    item.heapIndex = -1;
    if (i < this.#items.length) {
      this.#items[i] = last;
      last.heapIndex = i;
      this.#down(this.#up(i));
    }
  }

  #up(start: number): number {
    const items = this.#items;
    let i = start;
    const item = items[i] as T;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as T;
      if (p.deadline <= item.deadline) break;
      items[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    items[i] = item;
    item.heapIndex = i;
    return i;
  }

  #down(start: number): void {
    const items = this.#items;
    const n = items.length;
    let i = start;
    const item = items[i] as T;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (items[r] as T).deadline < (items[l] as T).deadline ? r : l;
      const child = items[c] as T;
      if (child.deadline >= item.deadline) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}

/** A heap item that can be fired. */
export interface TimedItem extends Timed {
  onTimer(now: number): void;
}

/**
 * The edge's single timer: one setTimeout armed for the heap's earliest
 * deadline; on expiry every due item fires, then `afterFire` runs once.
 */
export class DeadlineTimer<T extends TimedItem> {
  readonly #heap = new TimerHeap<T>();
  readonly #clock: () => number;
  readonly #onFired: (item: T) => void;
  readonly #afterFire: () => void;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #closed = false;

  constructor(clock: () => number, onFired: (item: T) => void, afterFire: () => void) {
    this.#clock = clock;
    this.#onFired = onFired;
    this.#afterFire = afterFire;
  }

  /** The item's deadline changed (Infinity removes it). */
  update(item: T): void {
    this.#heap.update(item);
  }

  remove(item: T): void {
    this.#heap.remove(item);
  }

  /** (Re)arms the setTimeout if the earliest deadline moved earlier. */
  arm(): void {
    if (this.#closed) return;
    const next = this.#heap.nextDeadline;
    if (next === Number.POSITIVE_INFINITY) return;
    if (this.#timer !== null && this.#timerAt <= next) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerAt = next;
    this.#timer = setTimeout(this.#fire, Math.max(0, Math.ceil(next - this.#clock())));
    this.#timer.unref?.();
  }

  readonly #fire = (): void => {
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#clock();
    for (let item = this.#heap.peek(); item !== undefined && item.deadline <= now; item = this.#heap.peek()) {
      this.#heap.remove(item);
      item.onTimer(now);
      this.#onFired(item);
    }
    this.#afterFire();
  };

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
