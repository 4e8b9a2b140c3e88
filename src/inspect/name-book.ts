// Which name an address was last resolved from through kvpn's DNS, so a
// connection to 10.96.0.12 shows as web.shop.svc.cluster.local. Bounded:
// the oldest addresses are forgotten first.

export const NAME_BOOK_SIZE = 8192;

export class NameBook {
  readonly #byAddress = new Map<string, string>();
  readonly #capacity: number;

  constructor(capacity = NAME_BOOK_SIZE) {
    this.#capacity = capacity;
  }

  learn(name: string, addresses: readonly string[]): void {
    for (const address of addresses) {
      // Re-inserting moves it to the newest end of the Map's order.
      this.#byAddress.delete(address);
      this.#byAddress.set(address, name);
      if (this.#byAddress.size > this.#capacity) {
        const oldest = this.#byAddress.keys().next().value;
        if (oldest !== undefined) this.#byAddress.delete(oldest);
      }
    }
  }

  nameOf(address: string): string | undefined {
    return this.#byAddress.get(address);
  }
}
