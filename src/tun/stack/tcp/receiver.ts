// Receive-side state (RFC 9293 §3.3.1 "Receive Sequence Variables"). The
// window is the room left toward the dialer's stream: `backlog` is what the
// stream still holds, so a slow dialer closes the window (backpressure).
// The right edge we advertised never moves left (RFC 9293 §3.8.6.2.1).

import type { TcpRepr } from '../../wire/index.js';
import { SeqNumber } from '../../wire/index.js';
import type { StackStats } from '../stats.js';
import type { TcpOutput } from './output.js';
import type { Reassembly } from './reassembly.js';

/** Where accepted bytes go (the connection). */
export interface TextSink {
  deliver(bytes: Uint8Array): void;
  reassembly(): Reassembly;
}

export class TcpReceiver {
  readonly irs: number;
  /** RCV.NXT */
  nxt: number;
  /** Our window-scale shift (0 unless both sides offered it). */
  shift = 0;
  readonly bufBytes: number;
  /** Bytes delivered to the dialer's stream that it has not written out yet. */
  backlog = 0;
  /** RCV.NXT + RCV.WND as last advertised. */
  advEdge: number;
  reassembly: Reassembly | null = null;
  /** The peer's FIN has been accepted. */
  finReceived = false;

  constructor(irs: number, bufBytes: number) {
    this.irs = irs;
    this.nxt = SeqNumber.add(irs, 1);
    this.bufBytes = bufBytes;
    this.advEdge = this.nxt;
  }

  /** RCV.WND as the peer knows it. */
  get wnd(): number {
    return Math.max(0, SeqNumber.sub(this.advEdge, this.nxt));
  }

  /** Room toward the dialer right now. */
  get free(): number {
    return Math.max(0, this.bufBytes - this.backlog);
  }

  /** RFC 9293 §3.10.7.4, first check: the four-case acceptability test. */
  acceptable(seq: number, segLen: number): boolean {
    const wnd = this.wnd;
    if (segLen === 0) {
      return wnd === 0 ? seq === this.nxt : SeqNumber.inRange(seq, this.nxt, this.advEdge);
    }
    if (wnd === 0) return false;
    return (
      SeqNumber.inRange(seq, this.nxt, this.advEdge) ||
      SeqNumber.inRange(SeqNumber.add(seq, segLen - 1), this.nxt, this.advEdge)
    );
  }

  /** True when the whole segment (a bare ACK counts as one octet) lies before RCV.NXT: an old duplicate. */
  alreadyReceived(seq: number, segLen: number): boolean {
    return SeqNumber.le(SeqNumber.add(seq, Math.max(segLen, 1)), this.nxt);
  }

  /** The 16-bit window field to send now; records the advertised edge. */
  windowField(): number {
    const unit = 2 ** this.shift;
    let wnd = this.free;
    const kept = SeqNumber.sub(this.advEdge, this.nxt);
    if (wnd < kept) wnd = kept;
    const field = Math.min(0xffff, Math.ceil(wnd / unit));
    const edge = SeqNumber.add(this.nxt, field * unit);
    if (SeqNumber.gt(edge, this.advEdge)) this.advEdge = edge;
    return field;
  }

  /**
   * Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): a window update is worth
   * sending once the edge would move by min(buffer/2, MSS).
   */
  windowUpdateWorth(mss: number): boolean {
    const potential = SeqNumber.add(this.nxt, Math.min(this.free, 0xffff * 2 ** this.shift));
    const gain = SeqNumber.sub(potential, this.advEdge);
    return gain >= Math.min(this.bufBytes / 2, mss);
  }

  /**
   * RFC 9293 §3.10.7.4 seventh check, segment text: trim to what is new and
   * inside the window, deliver in order, queue out of order. Returns true
   * when a FIN stored out of order has become the next thing to accept.
   */
  receiveText(seg: TcpRepr, segment: Uint8Array, out: TcpOutput, sink: TextSink, stats: StackStats): boolean {
    let seq = seg.seqNumber;
    let start = seg.payloadOffset;
    let end = start + seg.payloadLen;
    const dup = SeqNumber.sub(this.nxt, seq);
    if (dup > 0) {
      start += dup;
      seq = this.nxt;
    }
    const over = SeqNumber.sub(SeqNumber.add(seq, end - start), this.advEdge);
    if (over > 0) end -= over;
    if (end <= start) {
      out.ackDue = true;
      return false;
    }
    if (seq !== this.nxt) {
      // Out of order: keep it if it fits; duplicate ACK at once (RFC 5681 §4.2).
      if (!sink.reassembly().insert(seq, segment.subarray(start, end))) stats.drops.reassemblyFull++;
      out.ack();
      return false;
    }
    sink.deliver(segment.subarray(start, end));
    const r = this.reassembly;
    if (r === null || r.segments === 0) {
      out.ackDue = true;
      return false;
    }
    for (let piece = r.takeContiguous(this.nxt); piece !== null; piece = r.takeContiguous(this.nxt))
      sink.deliver(piece);
    if (r.finSeq !== -1 && r.finSeq === this.nxt) return true;
    // Filling a hole is acknowledged at once (RFC 5681 §4.2).
    out.ack();
    return false;
  }
}
