// Out-of-order segments waiting for the hole before them to fill (RFC 9293
// §3.10.7.4 "segment text"). Bounded twice: per connection by segment
// count, and across the stack by a shared byte budget; what does not fit is
// refused (the caller drops and counts it, the peer retransmits).
import { SeqNumber } from '../../wire/index.js';

export interface ReassemblyBudget {
  /** Bytes held by all connections. */
  used: number;
  readonly limit: number;
}

interface Piece {
  seq: number;
  data: Uint8Array;
}

export class Reassembly {
  readonly #budget: ReassemblyBudget;
  readonly #maxSegments: number;
  /** Sorted by seq, non-overlapping. */
  #pieces: Piece[] = [];
  #bytes = 0;
  /** Sequence number of an out-of-order FIN, or -1. */
  finSeq = -1;
  /** The most recently received out-of-order sequence number (first SACK block). */
  #latest = 0;

  constructor(budget: ReassemblyBudget, maxSegments: number) {
    this.#budget = budget;
    this.#maxSegments = maxSegments;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get segments(): number {
    return this.#pieces.length;
  }

  /**
   * Stores the parts of `data` (starting at `seq`, after RCV.NXT) not held
   * yet, copying them. False if a limit refused it.
   */
  insert(seq: number, data: Uint8Array): boolean {
    this.#latest = seq;
    let start = seq;
    let bytes = data;
    let i = 0;
    const pieces = this.#pieces;
    while (i < pieces.length && bytes.length > 0) {
      const p = pieces[i] as Piece;
      const pEnd = SeqNumber.add(p.seq, p.data.length);
      const end = SeqNumber.add(start, bytes.length);
      if (SeqNumber.le(pEnd, start)) {
        i++;
        continue;
      }
      if (SeqNumber.le(end, p.seq)) break;
      if (SeqNumber.lt(start, p.seq)) {
        // The part before p is new; the rest overlaps p.
        const head = SeqNumber.sub(p.seq, start);
        if (!this.#store(i, start, bytes.subarray(0, head))) return false;
        i++;
      }
      const consumed = SeqNumber.sub(pEnd, start);
      if (consumed >= bytes.length) return true;
      bytes = bytes.subarray(Math.max(0, consumed));
      start = pEnd;
      i++;
    }
    if (bytes.length === 0) return true;
    return this.#store(i, start, bytes);
  }

  #store(at: number, seq: number, view: Uint8Array): boolean {
    if (this.#pieces.length >= this.#maxSegments) return false;
    if (this.#budget.used + view.length > this.#budget.limit) return false;
    this.#pieces.splice(at, 0, { seq, data: view.slice() });
    this.#bytes += view.length;
    this.#budget.used += view.length;
    return true;
  }

  /**
   * Removes and returns the next piece that starts at or before `rcvNxt`
   * (trimmed to start at rcvNxt), or null if the hole is still open.
   */
  takeContiguous(rcvNxt: number): Uint8Array | null {
    while (this.#pieces.length > 0) {
      const p = this.#pieces[0] as Piece;
      if (SeqNumber.gt(p.seq, rcvNxt)) return null;
      this.#pieces.shift();
      this.#bytes -= p.data.length;
      this.#budget.used -= p.data.length;
      const skip = SeqNumber.sub(rcvNxt, p.seq);
      if (skip < p.data.length) return skip === 0 ? p.data : p.data.subarray(skip);
    }
    return null;
  }

  /**
   * SACK blocks (RFC 2018 §4) into `out` as [left, right) pairs: the run
   * holding the latest arrival first, then the others from the lowest up.
   * Adjacent pieces are reported as one block. Returns the block count.
   */
  sackBlocks(out: Uint32Array, max: number): number {
    const pieces = this.#pieces;
    let count = 0;
    let first = -1;
    // Maximal runs of adjacent pieces.
    const runs: number[] = [];
    for (let i = 0; i < pieces.length; ) {
      const left = (pieces[i] as Piece).seq;
      let right = SeqNumber.add(left, (pieces[i] as Piece).data.length);
      i++;
      while (i < pieces.length && (pieces[i] as Piece).seq === right) {
        right = SeqNumber.add(right, (pieces[i] as Piece).data.length);
        i++;
      }
      if (first < 0 && SeqNumber.inRange(this.#latest, left, right)) first = runs.length / 2;
      runs.push(left, right);
    }
    if (first >= 0) {
      out[0] = runs[2 * first] as number;
      out[1] = runs[2 * first + 1] as number;
      count = 1;
    }
    for (let r = 0; r < runs.length / 2 && count < max; r++) {
      if (r === first) continue;
      out[2 * count] = runs[2 * r] as number;
      out[2 * count + 1] = runs[2 * r + 1] as number;
      count++;
    }
    return count;
  }

  clear(): void {
    this.#budget.used -= this.#bytes;
    this.#bytes = 0;
    this.#pieces = [];
    this.finSeq = -1;
  }
}
