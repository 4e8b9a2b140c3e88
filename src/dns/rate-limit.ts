// Per-client query rate limit: one token bucket per source address, pure
// (the caller passes `now`). Queries over the limit are dropped and
// counted, as resolvers do under response-rate limiting. The client table
// is bounded: idle (full) buckets are swept first, then the oldest go.

export interface RateLimitOptions {
  /** Sustained queries per second per client address. */
  queriesPerSecond: number;
  /** Queries a client may send at once after being idle. */
  burst: number;
  /** Most clients tracked at once. */
  maxClients?: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = { queriesPerSecond: 5000, burst: 10_000, maxClients: 4096 };

interface Bucket {
  tokens: number;
  lastMs: number;
}

export class ClientRateLimiter {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #maxClients: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions) {
    this.#ratePerMs = options.queriesPerSecond / 1000;
    this.#burst = Math.max(1, options.burst);
    this.#maxClients = options.maxClients ?? DEFAULT_RATE_LIMIT.maxClients ?? 4096;
  }

  /** Takes one token for `client`; false if it has none left. */
  allow(client: string, nowMs: number): boolean {
    let b = this.#buckets.get(client);
    if (!b) {
      if (this.#buckets.size >= this.#maxClients) this.#evict(nowMs);
      b = { tokens: this.#burst, lastMs: nowMs };
      this.#buckets.set(client, b);
    } else if (nowMs > b.lastMs) {
      b.tokens = Math.min(this.#burst, b.tokens + (nowMs - b.lastMs) * this.#ratePerMs);
      b.lastMs = nowMs;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  get clients(): number {
    return this.#buckets.size;
  }

  #evict(nowMs: number): void {
    for (const [client, b] of this.#buckets) {
      if (b.tokens + (nowMs - b.lastMs) * this.#ratePerMs >= this.#burst) this.#buckets.delete(client);
    }
    // Still full: forget the oldest quarter (Map keeps insertion order).
    let drop = this.#buckets.size >= this.#maxClients ? Math.ceil(this.#maxClients / 4) : 0;
    for (const client of this.#buckets.keys()) {
      if (drop-- <= 0) break;
      this.#buckets.delete(client);
    }
  }
}
