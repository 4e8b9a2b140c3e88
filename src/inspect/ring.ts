// A fixed-size log: the newest `capacity` entries, with how many were ever
// added and how many the bound pushed out (the page shows both).

export class Ring<T> {
  readonly capacity: number;
  readonly #items: (T | undefined)[];
  #next = 0;
  #size = 0;
  /** Entries ever added. */
  total = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.#items = new Array(this.capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Entries pushed out by newer ones. */
  get dropped(): number {
    return this.total - this.#size;
  }

  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
    this.total++;
  }

  *newestFirst(): Generator<T> {
    for (let i = 1; i <= this.#size; i++) {
      const item = this.#items[(this.#next - i + this.capacity) % this.capacity];
      if (item !== undefined) yield item;
    }
  }

  /** The entry for which `match` is true, newest first. */
  find(match: (item: T) => boolean): T | undefined {
    for (const item of this.newestFirst()) if (match(item)) return item;
    return undefined;
  }
}
