// Send-side state (RFC 9293 §3.3.1 "Send Sequence Variables") with
// congestion control: slow start and congestion avoidance (RFC 5681), fast
// retransmit with NewReno recovery (RFC 6582), RTO from rtt.ts. The
// connection decides when to send; this class keeps the numbers right.
import { SeqNumber, TcpControl, type TcpRepr } from '../../wire/index.js';
import type { StackStats } from '../stats.js';
import type { TcpOutput } from './output.js';
import { RttEstimator } from './rtt.js';
import { SendBuffer } from './send-buffer.js';

/** What an ACK asked the connection to do. */
export const AckOutcome = {
  None: 0,
  /** New data acknowledged. */
  Advanced: 1,
  /** NewReno partial ACK: retransmit the next hole now. */
  PartialAck: 2,
  /** Third duplicate ACK: fast retransmit now. */
  FastRetransmit: 3,
} as const;
export type AckOutcome = (typeof AckOutcome)[keyof typeof AckOutcome];

/** Segments resent per ACK from SACK information during recovery. */
const RECOVERY_BURST_SEGMENTS = 4;

/** Bits returned by onAck. */
export const AckResult = {
  /** Drop the rest of the segment (it acknowledged data never sent). */
  Drop: 1,
  /** SND.UNA moved. */
  Advanced: 2,
  /** The peer's window went from zero to open. */
  WindowOpened: 4,
} as const;

/** What transmit() did. */
export const Transmit = {
  Nothing: 0,
  Sent: 1,
  /** Data or FIN waits on a zero window with nothing in flight: arm the persist timer. */
  WindowClosed: 2,
} as const;
export type Transmit = (typeof Transmit)[keyof typeof Transmit];

export class TcpSender {
  readonly iss: number;
  /** SND.UNA, SND.NXT, and the highest SND.NXT ever (go-back-N rewinds nxt only). */
  una: number;
  nxt: number;
  max: number;
  /** Peer window in bytes (scaled), SND.WL1/WL2, and the largest window seen. */
  wnd = 0;
  wl1 = 0;
  wl2 = 0;
  maxWnd = 0;
  /** Peer's window-scale shift (0 unless both sides offered it). */
  shift = 0;
  mss: number;
  readonly buffer = new SendBuffer();
  /** Sequence number of buffer offset 0. */
  bufStart: number;
  /** The app closed its side: FIN follows the buffered data. */
  finQueued = false;
  cwnd: number;
  ssthresh = Number.MAX_SAFE_INTEGER;
  dupAcks = 0;
  inRecovery = false;
  recover = 0;
  /** Highest sequence number retransmitted (or known SACKed) in this recovery. */
  highRtx = 0;
  readonly rtt: RttEstimator;
  rttTiming = false;
  rttSeq = 0;
  rttStart = 0;
  /** Consecutive retransmission timeouts (reset by progress). */
  retries = 0;
  persistBackoff = 0;

  constructor(iss: number, mss: number, minRtoMs: number) {
    this.iss = iss;
    this.una = iss;
    this.nxt = iss;
    this.max = iss;
    this.bufStart = SeqNumber.add(iss, 1);
    this.mss = mss;
    // RFC 6928 allows 10 segments; over a local TUN we start there outright.
    this.cwnd = 10 * mss;
    this.rtt = new RttEstimator(minRtoMs);
  }

  /** Sequence number just after the last buffered byte. */
  get dataEnd(): number {
    return SeqNumber.add(this.bufStart, this.buffer.length);
  }
  /** Sequence number the FIN takes (meaningful once finQueued). */
  get finSeq(): number {
    return this.dataEnd;
  }
  get finSent(): boolean {
    return this.finQueued && SeqNumber.gt(this.max, this.finSeq);
  }
  get finAcked(): boolean {
    return this.finQueued && SeqNumber.gt(this.una, this.finSeq);
  }
  get inFlight(): number {
    return SeqNumber.sub(this.nxt, this.una);
  }
  /** Buffered bytes not sent yet (from nxt). */
  get unsent(): number {
    return Math.max(0, SeqNumber.sub(this.dataEnd, this.nxt));
  }

  /** Starts timing a new segment unless one is timed already (Karn: never a retransmission). */
  timeSegment(endSeq: number, now: number): void {
    if (this.rttTiming || SeqNumber.lt(this.nxt, this.max)) return;
    this.rttTiming = true;
    this.rttSeq = endSeq;
    this.rttStart = now;
  }

  /** SND.UNA < ack ≤ SND.MAX: frees acknowledged bytes, samples RTT, grows cwnd. */
  onNewAck(ack: number, now: number): AckOutcome {
    const acked = SeqNumber.sub(ack, this.una);
    const dataAcked = Math.max(0, Math.min(SeqNumber.sub(ack, this.bufStart), this.buffer.length));
    this.buffer.consume(dataAcked);
    this.bufStart = SeqNumber.add(this.bufStart, dataAcked);
    this.una = ack;
    if (SeqNumber.lt(this.nxt, ack)) this.nxt = ack;
    if (this.rttTiming && SeqNumber.ge(ack, this.rttSeq)) {
      this.rtt.sample(now - this.rttStart);
      this.rttTiming = false;
    }
    this.retries = 0;
    this.persistBackoff = 0;
    this.dupAcks = 0;
    if (this.inRecovery) {
      if (SeqNumber.ge(ack, this.recover)) {
        // RFC 6582 §3.2 step 3: full acknowledgment ends recovery.
        this.inRecovery = false;
        this.cwnd = Math.max(this.ssthresh, this.mss);
        return AckOutcome.Advanced;
      }
      // Step 4: partial ACK deflates by the amount acked, retransmits the next hole.
      this.cwnd = Math.max(this.mss, this.cwnd - acked + this.mss);
      return AckOutcome.PartialAck;
    }
    if (this.cwnd < this.ssthresh) {
      // Slow start, byte counting (RFC 3465) without the per-ACK cap: ACKs
      // from the local kernel cover many segments at once.
      this.cwnd += acked;
    } else {
      this.cwnd += Math.max(1, Math.floor((this.mss * acked) / this.cwnd));
    }
    return AckOutcome.Advanced;
  }

  /** An ACK that acknowledged nothing while data is outstanding (RFC 5681 §3.2). */
  onDuplicateAck(): AckOutcome {
    this.dupAcks++;
    if (this.dupAcks === 3 && !this.inRecovery) {
      this.ssthresh = Math.max(Math.floor(this.inFlight / 2), 2 * this.mss);
      this.cwnd = this.ssthresh + 3 * this.mss;
      this.inRecovery = true;
      this.recover = this.max;
      this.highRtx = this.una;
      this.rttTiming = false;
      return AckOutcome.FastRetransmit;
    }
    if (this.dupAcks > 3 && this.inRecovery) this.cwnd += this.mss;
    return AckOutcome.None;
  }

  /** RFC 5681 §3.1 eq. 4 and RFC 6298 §5.5-5.7: collapse, back off, go back to SND.UNA. */
  onRetransmitTimeout(): void {
    this.ssthresh = Math.max(Math.floor(this.inFlight / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.nxt = this.una;
    this.rttTiming = false;
    this.inRecovery = false;
    this.highRtx = this.una;
    this.dupAcks = 0;
    this.retries++;
    this.rtt.backoff();
  }

  /**
   * RFC 9293 §3.10.7.4 fifth check (synchronized states): new data
   * acknowledged, duplicate ACKs (fast retransmit, RFC 5681 §3.2), and the
   * window update rule. Returns AckResult bits.
   */
  onAck(seg: TcpRepr, now: number, out: TcpOutput, stats: StackStats): number {
    const ack = seg.ackNumber;
    if (SeqNumber.gt(ack, this.max)) {
      // Acknowledges something not yet sent: ACK and drop.
      stats.drops.badAck++;
      out.ack();
      return AckResult.Drop;
    }
    let result = 0;
    const wnd = seg.windowLen * 2 ** this.shift;
    if (SeqNumber.gt(ack, this.una)) {
      result |= AckResult.Advanced;
      // A partial ACK resends the next hole, unless SACK recovery already did.
      if (this.onNewAck(ack, now) === AckOutcome.PartialAck && SeqNumber.ge(this.una, this.highRtx)) {
        this.retransmitFirst(out, stats);
      }
    } else if (
      ack === this.una &&
      seg.payloadLen === 0 &&
      seg.control !== TcpControl.Fin &&
      wnd === this.wnd &&
      this.max !== this.una
    ) {
      if (this.onDuplicateAck() === AckOutcome.FastRetransmit) {
        stats.tcp.fastRetransmits++;
        this.retransmitFirst(out, stats);
      }
    }
    if (this.inRecovery && seg.sackCount > 0) this.#retransmitHoles(seg, out, stats);
    // SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK): take the window.
    if (
      SeqNumber.ge(ack, this.una) &&
      (SeqNumber.lt(this.wl1, seg.seqNumber) || (this.wl1 === seg.seqNumber && SeqNumber.le(this.wl2, ack)))
    ) {
      if (this.wnd === 0 && wnd > 0) result |= AckResult.WindowOpened;
      this.wnd = wnd;
      this.wl1 = seg.seqNumber;
      this.wl2 = ack;
      if (wnd > this.maxWnd) this.maxWnd = wnd;
    }
    return result;
  }

  /** Sends new data, then FIN, within min(SND.WND, cwnd). */
  transmit(out: TcpOutput, now: number): Transmit {
    let sent = false;
    for (;;) {
      const unsent = this.unsent;
      if (unsent <= 0) break;
      const usable = Math.min(this.wnd, this.cwnd) - this.inFlight;
      if (usable <= 0) break;
      const len = Math.min(unsent, this.mss, usable);
      // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): no runt while data is in flight.
      if (len < this.mss && len < unsent && this.inFlight > 0 && len < this.maxWnd / 2) break;
      const fin = this.finQueued && len === unsent;
      const seq = this.nxt;
      out.segment(
        seq,
        fin ? TcpControl.Fin : len === unsent ? TcpControl.Psh : TcpControl.None,
        SeqNumber.sub(seq, this.bufStart),
        len,
      );
      const end = SeqNumber.add(seq, len + (fin ? 1 : 0));
      this.timeSegment(end, now);
      this.nxt = end;
      if (SeqNumber.gt(end, this.max)) this.max = end;
      sent = true;
      if (fin) break;
    }
    if (this.finQueued && this.unsent === 0 && SeqNumber.le(this.nxt, this.finSeq)) {
      // Bare FIN once all data is out.
      out.segment(this.finSeq, TcpControl.Fin, 0, 0);
      this.timeSegment(SeqNumber.add(this.finSeq, 1), now);
      this.nxt = SeqNumber.add(this.finSeq, 1);
      if (SeqNumber.gt(this.nxt, this.max)) this.max = this.nxt;
      sent = true;
    }
    if (sent) return Transmit.Sent;
    if (this.wnd === 0 && this.inFlight === 0 && (this.unsent > 0 || (this.finQueued && !this.finSent))) {
      return Transmit.WindowClosed;
    }
    return Transmit.Nothing;
  }

  /** Fast retransmit / partial ACK: resend the segment at SND.UNA without moving SND.NXT. */
  retransmitFirst(out: TcpOutput, stats: StackStats): void {
    const dataLeft = SeqNumber.sub(this.dataEnd, this.una);
    const len = Math.max(0, Math.min(this.mss, dataLeft, SeqNumber.sub(this.max, this.una)));
    const fin = this.finSent && len === dataLeft;
    if (len === 0 && !fin) return;
    stats.tcp.retransmits++;
    out.segment(this.una, fin ? TcpControl.Fin : TcpControl.Psh, SeqNumber.sub(this.una, this.bufStart), len);
    const end = SeqNumber.add(this.una, len);
    if (SeqNumber.gt(end, this.highRtx)) this.highRtx = end;
  }

  /**
   * SACK-assisted recovery (after RFC 6675, simplified): while recovering,
   * each ACK's SACK blocks show which ranges the peer holds; the holes
   * below the highest block are resent at once, a few segments per ACK,
   * instead of one hole per round trip as plain NewReno would.
   */
  #retransmitHoles(seg: TcpRepr, out: TcpOutput, stats: StackStats): void {
    const n = seg.sackCount;
    const order = [0, 1, 2, 3].slice(0, n);
    order.sort((a, b) => SeqNumber.sub(seg.sackRanges[2 * a] as number, seg.sackRanges[2 * b] as number));
    let from = SeqNumber.max(this.una, this.highRtx);
    let budget = RECOVERY_BURST_SEGMENTS;
    for (const k of order) {
      const left = seg.sackRanges[2 * k] as number;
      const right = seg.sackRanges[2 * k + 1] as number;
      // Ignore blocks outside what is outstanding (D-SACK, stale, bogus).
      if (SeqNumber.le(right, from) || SeqNumber.gt(right, this.max) || SeqNumber.ge(left, right)) continue;
      while (SeqNumber.lt(from, left) && budget > 0) {
        const len = Math.min(this.mss, SeqNumber.sub(left, from), SeqNumber.sub(this.dataEnd, from));
        if (len <= 0) break;
        stats.tcp.retransmits++;
        out.segment(from, TcpControl.None, SeqNumber.sub(from, this.bufStart), len);
        from = SeqNumber.add(from, len);
        budget--;
      }
      if (budget === 0 || SeqNumber.lt(from, left)) break;
      from = right;
    }
    if (SeqNumber.gt(from, this.highRtx)) this.highRtx = from;
  }
}
