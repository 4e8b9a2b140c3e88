// Giving memory back once a burst is over. V8 collects garbage only when
// JavaScript allocates, and an idle daemon hardly does: after 10,000
// connections close, their dead objects (~50 MB) would stay on the heap
// until traffic returns, and after a bulk transfer the heap keeps the size
// it grew to. The daemon (started with --expose-gc) runs a full collection
//   - when most of the connections seen since the last one have closed, or
//   - when traffic goes quiet after a lot of it moved since the last one.
//
//   every JANITOR_CHECK_INTERVAL_MS: (open connections, bytes moved) ─► JanitorPolicy.sample(now) ─► collect()?
//
// JanitorPolicy is pure (samples and `now` in, a decision out); startMemoryJanitor
// is the edge (one unref'd timer, the collector the process provides).

/** How often the counters are sampled. */
export const JANITOR_CHECK_INTERVAL_MS = 2000;
/** Connections that must have closed since the last collection (fewer leave too little to reclaim). */
export const JANITOR_MIN_CLOSED = 1000;
/** Bytes through the tunnel since the last collection that make a quiet spell worth a collection. */
export const JANITOR_MIN_BYTES = 64 * 1024 * 1024;
/** At most this much moved during the last interval: traffic is quiet. */
export const JANITOR_QUIET_BYTES = 1024 * 1024;
/** At most one collection per this long (a full collection of a large heap takes tens of ms). */
export const JANITOR_MIN_GAP_MS = 5000;

export interface JanitorSample {
  /** Connections (TCP and UDP) open now. */
  open: number;
  /** Bytes through the tunnel so far, both directions (a counter that only grows). */
  bytes: number;
}

export type JanitorReason = 'closed' | 'quiet';

export class JanitorPolicy {
  #high = 0;
  #bytesAtCollect = 0;
  #lastBytes: number | undefined;
  #lastCollectAt = Number.NEGATIVE_INFINITY;

  /** The reason a collection is due now, or undefined. */
  sample(s: JanitorSample, now: number): JanitorReason | undefined {
    if (s.open > this.#high) this.#high = s.open;
    const interval = this.#lastBytes === undefined ? Number.POSITIVE_INFINITY : s.bytes - this.#lastBytes;
    if (this.#lastBytes === undefined) this.#bytesAtCollect = s.bytes;
    this.#lastBytes = s.bytes;
    const closed = this.#high - s.open >= JANITOR_MIN_CLOSED && s.open * 2 <= this.#high;
    const quiet = s.bytes - this.#bytesAtCollect >= JANITOR_MIN_BYTES && interval <= JANITOR_QUIET_BYTES;
    if (!closed && !quiet) return undefined;
    if (now - this.#lastCollectAt < JANITOR_MIN_GAP_MS) return undefined;
    this.#high = s.open;
    this.#bytesAtCollect = s.bytes;
    this.#lastCollectAt = now;
    return closed ? 'closed' : 'quiet';
  }
}

export interface JanitorOptions {
  sample(): JanitorSample;
  /** A full garbage collection (globalThis.gc under --expose-gc). */
  collect(): void;
  onCollect?(info: { reason: JanitorReason; open: number; ms: number; heapBefore: number; heapAfter: number }): void;
  intervalMs?: number;
  clock?: () => number;
}

/** Starts sampling; returns the stop function. */
export function startMemoryJanitor(options: JanitorOptions): () => void {
  const policy = new JanitorPolicy();
  const clock = options.clock ?? (() => performance.now());
  const timer = setInterval(() => {
    const s = options.sample();
    const reason = policy.sample(s, clock());
    if (!reason) return;
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    options.collect();
    const ms = performance.now() - t0;
    options.onCollect?.({ reason, open: s.open, ms, heapBefore, heapAfter: process.memoryUsage().heapUsed });
  }, options.intervalMs ?? JANITOR_CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
