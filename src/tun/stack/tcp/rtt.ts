// Retransmission timeout from measured round trips (RFC 6298 §2-5).
// One segment is timed at a time and never a retransmitted one (Karn).
export const INITIAL_RTO_MS = 1000;
/** RFC 6298 says 1 s; like Linux we allow 200 ms (the TUN is local). */
export const DEFAULT_MIN_RTO_MS = 200;
export const MAX_RTO_MS = 60_000;
const CLOCK_GRANULARITY_MS = 1;

export class RttEstimator {
  srtt = 0;
  rttvar = 0;
  rto: number;
  readonly #minRto: number;
  #measured = false;

  constructor(minRtoMs = DEFAULT_MIN_RTO_MS) {
    this.#minRto = minRtoMs;
    this.rto = Math.max(INITIAL_RTO_MS, minRtoMs);
  }

  /** RFC 6298 §2.2 (first sample) and §2.3 (later samples). */
  sample(rttMs: number): void {
    const r = Math.max(0, rttMs);
    if (!this.#measured) {
      this.srtt = r;
      this.rttvar = r / 2;
      this.#measured = true;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = Math.min(
      MAX_RTO_MS,
      Math.max(this.#minRto, this.srtt + Math.max(CLOCK_GRANULARITY_MS, 4 * this.rttvar)),
    );
  }

  /** RFC 6298 §5.5: double on expiry. */
  backoff(): void {
    this.rto = Math.min(MAX_RTO_MS, this.rto * 2);
  }
}
