// Giving memory back once many connections have closed. V8 collects garbage
// only when JavaScript allocates, and an idle daemon hardly does: after
// 10,000 connections close, their dead objects (~50 MB) would stay on the
// heap until traffic returns. The daemon (started with --expose-gc) runs a
// full collection when most of the connections seen since the last one are gone.
//
//   every CHECK_INTERVAL_MS: open connections ─► JanitorPolicy.sample(now) ─► collect()?
//
// JanitorPolicy is pure (samples and `now` in, a decision out); startMemoryJanitor
// is the edge (one unref'd timer, the collector the process provides).

/** How often the open-connection count is sampled. */
export const JANITOR_CHECK_INTERVAL_MS = 2000;
/** Connections that must have closed since the last collection (fewer leave too little to reclaim). */
export const JANITOR_MIN_CLOSED = 1000;
/** At most one collection per this long (a full collection of a large heap takes tens of ms). */
export const JANITOR_MIN_GAP_MS = 10_000;

export class JanitorPolicy {
  #high = 0;
  #lastCollectAt = Number.NEGATIVE_INFINITY;

  /** True when a collection is due: at least JANITOR_MIN_CLOSED closed and at most half of the high-water mark left. */
  sample(open: number, now: number): boolean {
    if (open > this.#high) this.#high = open;
    const closed = this.#high - open;
    if (closed < JANITOR_MIN_CLOSED || open * 2 > this.#high) return false;
    if (now - this.#lastCollectAt < JANITOR_MIN_GAP_MS) return false;
    this.#high = open;
    this.#lastCollectAt = now;
    return true;
  }
}

export interface JanitorOptions {
  /** Connections (TCP and UDP) open now. */
  openConnections(): number;
  /** A full garbage collection (globalThis.gc under --expose-gc). */
  collect(): void;
  onCollect?(info: { open: number; ms: number; heapBefore: number; heapAfter: number }): void;
  intervalMs?: number;
  clock?: () => number;
}

/** Starts sampling; returns the stop function. */
export function startMemoryJanitor(options: JanitorOptions): () => void {
  const policy = new JanitorPolicy();
  const clock = options.clock ?? (() => performance.now());
  const timer = setInterval(() => {
    const open = options.openConnections();
    if (!policy.sample(open, clock())) return;
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    options.collect();
    const ms = performance.now() - t0;
    options.onCollect?.({ open, ms, heapBefore, heapAfter: process.memoryUsage().heapUsed });
  }, options.intervalMs ?? JANITOR_CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
