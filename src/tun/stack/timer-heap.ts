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
