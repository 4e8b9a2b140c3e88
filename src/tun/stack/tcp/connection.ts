// One TCP connection, terminated here: the peer is the application's
// kernel on the other side of the TUN; the "user" (RFC 9293 terms) is the
// dialer's stream, reached through the TcpApp interface.
//
// Pure core: segments and `now` come in (`onSegment`, `onTimer`), app calls
// come in (`send`, `close`, `abort`, `setAppBacklog`), packets go out
// through `host.output` during `poll(now)` (or at once for RST and the
// immediate ACKs the RFCs require), and `deadline` tells the edge when to
// call `onTimer` next. No I/O, no timers, no clock of its own.
import { formatIp } from '../../wire/ip-address.js';
import { SeqNumber } from '../../wire/seq-number.js';
import { TcpControl, type TcpRepr } from '../../wire/tcp.js';
import { type TcpConfig, windowShiftFor } from './config.js';
import type { TcpApp, TcpCloseReason, TcpEndpoints, TcpHost, TcpSynOptions } from './host.js';
import { TcpOutput } from './output.js';
import { Reassembly } from './reassembly.js';
import { TcpReceiver } from './receiver.js';
import { MAX_RTO_MS } from './rtt.js';
import { AckResult, TcpSender, Transmit } from './sender.js';
import { TCP_STATE_NAMES, TCP_TIMER_NAMES, TcpState, TcpTimer } from './state.js';

/** RFC 9293 §3.7.1 default send MSS when the peer sent none. */
const DEFAULT_MSS_V4 = 536;
const DEFAULT_MSS_V6 = 1220;

export class TcpConnection {
  readonly localAddr: Uint8Array;
  readonly localPort: number;
  readonly remoteAddr: Uint8Array;
  readonly remotePort: number;
  state: TcpState = TcpState.SynReceived;
  app: TcpApp | null = null;
  readonly snd: TcpSender;
  readonly rcv: TcpReceiver;
  timer: TcpTimer = TcpTimer.None;
  /** When the armed timer fires (ms, same clock as `now`); Infinity if none. */
  deadline = Number.POSITIVE_INFINITY;
  /** Position in the stack's timer heap (owned by the heap). */
  heapIndex = -1;
  /** Flow-table links (owned by the table). */
  hash = 0;
  nextInBucket: TcpConnection | null = null;
  /** Queued for the stack's next poll pass (owned by the stack). */
  pollQueued = false;

  readonly #host: TcpHost;
  readonly #config: TcpConfig;
  readonly #ourMss: number;
  #scaleNegotiated = false;
  #synAckDue = true;
  readonly #out: TcpOutput;
  #sendBlocked = false;

  constructor(ends: TcpEndpoints, syn: TcpSynOptions, iss: number, config: TcpConfig, host: TcpHost) {
    this.localAddr = ends.localAddr;
    this.localPort = ends.localPort;
    this.remoteAddr = ends.remoteAddr;
    this.remotePort = ends.remotePort;
    this.#host = host;
    this.#config = config;
    const v4 = ends.localAddr.length === 4;
    const ourMss = config.mtu - (v4 ? 40 : 60);
    const peerMss = syn.mss > 0 ? syn.mss : v4 ? DEFAULT_MSS_V4 : DEFAULT_MSS_V6;
    this.snd = new TcpSender(iss, Math.max(64, Math.min(ourMss, peerMss)), config.minRtoMs);
    this.rcv = new TcpReceiver(syn.seq, config.rcvBufBytes);
    if (syn.windowScale >= 0) {
      // RFC 7323 §2.2: scaling only when both SYNs carry the option.
      this.#scaleNegotiated = true;
      this.snd.shift = syn.windowScale;
      this.rcv.shift = windowShiftFor(config.rcvBufBytes);
    }
    // RFC 7323 §2.2: the window in a SYN is never scaled.
    this.snd.wnd = syn.window;
    this.snd.maxWnd = syn.window;
    this.snd.wl1 = syn.seq;
    this.snd.wl2 = iss;
    this.#ourMss = ourMss;
    this.#out = new TcpOutput(host, ends, this.snd, this.rcv, syn.sackPermitted === true);
  }

  get stateName(): string {
    return TCP_STATE_NAMES[this.state] as string;
  }

  /** "10.0.0.2:4711 > 10.200.0.1:80" for logs. */
  get name(): string {
    return `${fmt(this.remoteAddr)}:${this.remotePort} > ${fmt(this.localAddr)}:${this.localPort}`;
  }

  // ---- app side -----------------------------------------------------------

  /** Queues bytes for the peer. False once the send buffer is full (pause the source). */
  send(data: Uint8Array): boolean {
    if (this.snd.finQueued || !this.#canSend()) {
      this.#host.stats.drops.dataAfterClose++;
      return false;
    }
    this.snd.buffer.push(data);
    const full = this.snd.buffer.length >= this.#config.sndBufBytes;
    if (full) this.#sendBlocked = true;
    return !full;
  }

  get sendBufferFull(): boolean {
    return this.snd.buffer.length >= this.#config.sndBufBytes;
  }

  /** The app finished sending: FIN after the buffered data (RFC 9293 §3.10.4 CLOSE). */
  close(): void {
    switch (this.state) {
      case TcpState.SynReceived:
        // Queued: the FIN goes out once ESTABLISHED and the data is sent.
        this.snd.finQueued = true;
        break;
      case TcpState.Established:
        this.snd.finQueued = true;
        this.#setState(TcpState.FinWait1);
        break;
      case TcpState.CloseWait:
        this.snd.finQueued = true;
        this.#setState(TcpState.LastAck);
        break;
      default:
        // Already closing: RFC 9293 "error: connection closing"; nothing to do.
        break;
    }
  }

  /** Resets the connection (RFC 9293 §3.10.5 ABORT): RST to the peer, then CLOSED. */
  abort(): void {
    if (this.state === TcpState.Closed) return;
    if (this.state !== TcpState.TimeWait) this.#out.rst();
    this.#terminate('aborted');
  }

  /** The dialer's stream now holds `bytes` unwritten; may open the window. */
  setAppBacklog(bytes: number): void {
    this.rcv.backlog = bytes;
  }

  /** True when polling would send a window update. */
  get windowUpdateDue(): boolean {
    return this.#synchronized() && !this.rcv.finReceived && this.rcv.windowUpdateWorth(this.snd.mss);
  }

  // ---- peer side ----------------------------------------------------------

  /**
   * One segment from the peer, already parsed into `seg`; `segment` is the
   * TCP header and payload. Returns true if the segment is a new SYN for
   * this 4-tuple that should open a fresh connection (TIME-WAIT reuse).
   */
  onSegment(seg: TcpRepr, segment: Uint8Array, now: number): boolean {
    const stats = this.#host.stats;
    stats.tcp.segmentsIn++;
    const control = seg.control;
    const segLen = seg.segmentLen;

    switch (this.state) {
      case TcpState.Closed:
        return false;
      case TcpState.SynReceived:
        if (control === TcpControl.Syn && seg.seqNumber === this.rcv.irs) {
          // Our SYN-ACK was lost and the peer retransmitted its SYN.
          this.#synAckDue = true;
          return false;
        }
        break;
      case TcpState.TimeWait:
        // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN above RCV.NXT may reopen.
        if (control === TcpControl.Syn && !seg.hasAck && SeqNumber.gt(seg.seqNumber, this.rcv.nxt)) {
          this.#terminate('closed');
          return true;
        }
        break;
      default:
        break;
    }

    // First check: sequence number (RFC 9293 §3.10.7.4).
    if (!this.rcv.acceptable(seg.seqNumber, segLen)) {
      stats.drops.outOfWindow++;
      if (control !== TcpControl.Rst) this.#out.ack();
      return false;
    }

    // Second check: RST (RFC 9293 §3.10.7.4 with RFC 5961 §3.2).
    if (control === TcpControl.Rst) {
      stats.tcp.resetsReceived++;
      if (seg.seqNumber === this.rcv.nxt || this.state === TcpState.SynReceived) {
        this.#terminate(this.state === TcpState.TimeWait ? 'closed' : 'reset');
      } else {
        this.#out.ack(); // challenge ACK
      }
      return false;
    }

    // Fourth check: SYN in a synchronized state → challenge ACK (RFC 5961 §4.2).
    if (control === TcpControl.Syn) {
      this.#out.ack();
      return false;
    }

    // Fifth check: ACK.
    if (!seg.hasAck) {
      stats.drops.noAck++;
      return false;
    }
    if (this.state === TcpState.SynReceived) {
      // RFC 9293: if SND.UNA < SEG.ACK =< SND.NXT enter ESTABLISHED, else RST.
      if (!(SeqNumber.lt(this.snd.una, seg.ackNumber) && SeqNumber.le(seg.ackNumber, this.snd.max))) {
        stats.drops.badAck++;
        this.#out.rstFor(seg.ackNumber);
        return false;
      }
      this.#setState(TcpState.Established);
      this.#clearTimer();
      if (this.snd.finQueued) this.#setState(TcpState.FinWait1);
    }
    if (!this.#processAck(seg, now)) return false;

    switch (this.state) {
      case TcpState.FinWait1:
        // RFC 9293: our FIN acknowledged → FIN-WAIT-2.
        if (this.snd.finAcked) this.#setState(TcpState.FinWait2);
        break;
      case TcpState.Closing:
        if (this.snd.finAcked) {
          this.#setState(TcpState.TimeWait);
          this.#armTimer(TcpTimer.TimeWait, now + this.#config.timeWaitMs);
        }
        break;
      case TcpState.LastAck:
        if (this.snd.finAcked) {
          this.#terminate('closed');
          return false;
        }
        break;
      case TcpState.TimeWait:
        // RFC 9293: the only thing that can arrive is a retransmitted FIN; ack it, restart 2 MSL.
        if (control === TcpControl.Fin) {
          this.#out.ackDue = true;
          this.#armTimer(TcpTimer.TimeWait, now + this.#config.timeWaitMs);
        }
        return false;
      default:
        break;
    }

    // Seventh check: segment text, in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2 only.
    if (seg.payloadLen > 0) {
      if (this.state === TcpState.Established || this.state === TcpState.FinWait1 || this.state === TcpState.FinWait2) {
        if (this.rcv.receiveText(seg, segment, this.#out, this, this.#host.stats)) this.#acceptFin(now);
      } else {
        // After the peer's FIN any further data is an error; just re-ACK.
        this.#out.ackDue = true;
      }
    }

    // Eighth check: FIN.
    if (control === TcpControl.Fin) {
      const finSeq = SeqNumber.add(seg.seqNumber, seg.payloadLen);
      if (finSeq === this.rcv.nxt) this.#acceptFin(now);
      else if (SeqNumber.gt(finSeq, this.rcv.nxt) && SeqNumber.lt(finSeq, this.rcv.advEdge)) {
        this.reassembly().finSeq = finSeq;
      }
    }
    return false;
  }

  /** Fifth check, synchronized states. False drops the segment. */
  #processAck(seg: TcpRepr, now: number): boolean {
    const snd = this.snd;
    const r = snd.onAck(seg, now, this.#out, this.#host.stats);
    if ((r & AckResult.Drop) !== 0) return false;
    if ((r & AckResult.Advanced) !== 0) {
      if (snd.una === snd.max) {
        if (this.timer === TcpTimer.Retransmit) this.#clearTimer(); // RFC 6298 §5.2
      } else {
        this.#armTimer(TcpTimer.Retransmit, now + snd.rtt.rto); // §5.3
      }
      if (this.#sendBlocked && snd.buffer.length < this.#config.sndBufBytes) {
        this.#sendBlocked = false;
        this.app?.onSendSpace();
      }
    }
    if ((r & AckResult.WindowOpened) !== 0 && this.timer === TcpTimer.Persist) {
      snd.persistBackoff = 0;
      this.#clearTimer();
      if (snd.una !== snd.max) this.#armTimer(TcpTimer.Retransmit, now + snd.rtt.rto);
    }
    return true;
  }

  /** In-order bytes for the dialer (used by the receiver): a fresh copy, counted. */
  deliver(bytes: Uint8Array): void {
    const copy = Buffer.from(bytes);
    this.rcv.nxt = SeqNumber.add(this.rcv.nxt, copy.length);
    this.rcv.backlog += copy.length;
    this.#host.stats.tcp.bytesFromApp += copy.length;
    this.app?.onData(copy);
  }

  /** The out-of-order queue, created on first use (idle connections hold none). */
  reassembly(): Reassembly {
    if (this.rcv.reassembly === null) {
      this.rcv.reassembly = new Reassembly(this.#host.budget, this.#config.reassemblySegments);
    }
    return this.rcv.reassembly;
  }

  #acceptFin(now: number): void {
    const rcv = this.rcv;
    rcv.nxt = SeqNumber.add(rcv.nxt, 1);
    rcv.finReceived = true;
    rcv.reassembly?.clear();
    this.#out.ackDue = true;
    switch (this.state) {
      case TcpState.SynReceived:
      case TcpState.Established:
        this.#setState(TcpState.CloseWait);
        break;
      case TcpState.FinWait1:
        // Our FIN not acknowledged yet (else we would be in FIN-WAIT-2): simultaneous close.
        this.#setState(TcpState.Closing);
        break;
      case TcpState.FinWait2:
        this.#setState(TcpState.TimeWait);
        this.#armTimer(TcpTimer.TimeWait, now + this.#config.timeWaitMs);
        break;
      default:
        break;
    }
    this.app?.onPeerFin();
  }

  // ---- timers -------------------------------------------------------------

  onTimer(now: number): void {
    if (now < this.deadline) return;
    const kind = this.timer;
    this.timer = TcpTimer.None;
    this.deadline = Number.POSITIVE_INFINITY;
    const snd = this.snd;
    switch (kind) {
      case TcpTimer.Retransmit:
        if (this.state === TcpState.SynReceived) {
          if (++snd.retries > this.#config.maxSynAckRetransmits) {
            this.#host.stats.tcp.timeouts++;
            this.#terminate('timeout');
            return;
          }
          snd.rtt.backoff();
          snd.rttTiming = false;
          this.#synAckDue = true;
          this.#host.stats.tcp.retransmits++;
          break;
        }
        if (snd.retries >= this.#config.maxRetransmits) {
          this.#host.stats.tcp.timeouts++;
          this.#out.rst();
          this.#terminate('timeout');
          return;
        }
        this.#host.stats.tcp.retransmits++;
        snd.onRetransmitTimeout();
        this.#armTimer(TcpTimer.Retransmit, now + snd.rtt.rto);
        break;
      case TcpTimer.Persist: {
        // RFC 9293 §3.8.6.1: probe the zero window. Like Linux we send an
        // empty segment one below SND.UNA: the peer must answer with an ACK
        // carrying its current window, and no sequence space is used.
        this.#host.stats.tcp.zeroWindowProbes++;
        this.#out.segment(SeqNumber.add(snd.una, -1), TcpControl.None, 0, 0);
        snd.persistBackoff++;
        this.#armTimer(TcpTimer.Persist, now + this.#persistInterval());
        break;
      }
      case TcpTimer.TimeWait:
        this.#terminate('closed');
        return;
      default:
        break;
    }
    this.#host.timerChanged(this);
  }

  #persistInterval(): number {
    return Math.min(MAX_RTO_MS, this.snd.rtt.rto * 2 ** this.snd.persistBackoff);
  }

  // ---- output -------------------------------------------------------------

  /** Sends whatever is due: SYN-ACK, data within the windows, FIN, ACK or window update. */
  poll(now: number): void {
    switch (this.state) {
      case TcpState.Closed:
        return;
      case TcpState.SynReceived:
        if (this.#synAckDue) this.#sendSynAck(now);
        return;
      case TcpState.TimeWait:
        if (this.#out.ackDue) this.#out.ack();
        return;
      default: {
        const sent = this.#sendData(now);
        if (!sent && (this.#out.ackDue || this.windowUpdateDue)) this.#out.ack();
      }
    }
  }

  #sendSynAck(now: number): void {
    const snd = this.snd;
    this.#synAckDue = false;
    this.#out.synAck(this.#ourMss, this.#scaleNegotiated ? this.rcv.shift : -1);
    if (SeqNumber.lt(snd.max, SeqNumber.add(snd.iss, 1))) {
      snd.nxt = SeqNumber.add(snd.iss, 1);
      snd.max = snd.nxt;
      snd.rttTiming = true;
      snd.rttSeq = snd.nxt;
      snd.rttStart = now;
    }
    this.#armTimer(TcpTimer.Retransmit, now + snd.rtt.rto);
  }

  #sendData(now: number): boolean {
    if (!this.#canTransmit()) return false;
    const result = this.snd.transmit(this.#out, now);
    if (result === Transmit.Sent) {
      if (this.timer !== TcpTimer.Retransmit) this.#armTimer(TcpTimer.Retransmit, now + this.snd.rtt.rto); // RFC 6298 §5.1
      return true;
    }
    if (result === Transmit.WindowClosed && this.timer !== TcpTimer.Persist) {
      this.#armTimer(TcpTimer.Persist, now + this.#persistInterval());
    }
    return false;
  }

  // ---- state --------------------------------------------------------------

  #synchronized(): boolean {
    return this.state !== TcpState.SynReceived && this.state !== TcpState.Closed;
  }

  #canSend(): boolean {
    return (
      this.state === TcpState.SynReceived || this.state === TcpState.Established || this.state === TcpState.CloseWait
    );
  }

  #canTransmit(): boolean {
    switch (this.state) {
      case TcpState.Established:
      case TcpState.CloseWait:
      case TcpState.FinWait1:
      case TcpState.Closing:
      case TcpState.LastAck:
        return true;
      default:
        return false;
    }
  }

  /** Every transition goes through here (and is logged FROM -> TO). */
  #setState(to: TcpState): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    const log = this.#host.log;
    if (log !== null) log(`${this.name} ${TCP_STATE_NAMES[from]} -> ${TCP_STATE_NAMES[to]}`);
    if (to === TcpState.TimeWait) {
      this.#host.stats.tcp.timeWait++;
      this.#host.enteredTimeWait(this);
    }
    if (from === TcpState.TimeWait) this.#host.stats.tcp.timeWait--;
  }

  #armTimer(kind: TcpTimer, at: number): void {
    this.timer = kind;
    this.deadline = at;
    this.#host.timerChanged(this);
  }

  #clearTimer(): void {
    if (this.timer === TcpTimer.None) return;
    this.timer = TcpTimer.None;
    this.deadline = Number.POSITIVE_INFINITY;
    this.#host.timerChanged(this);
  }

  get timerName(): string {
    return TCP_TIMER_NAMES[this.timer] as string;
  }

  #terminate(reason: TcpCloseReason): void {
    if (this.state === TcpState.Closed) return;
    this.#setState(TcpState.Closed);
    this.#clearTimer();
    this.snd.buffer.clear();
    this.rcv.reassembly?.clear();
    this.rcv.reassembly = null;
    this.#host.connectionClosed(this, reason);
    const app = this.app;
    this.app = null;
    app?.onClosed(reason);
  }
}

function fmt(a: Uint8Array): string {
  return a.length === 4 ? formatIp(a) : `[${formatIp(a)}]`;
}
