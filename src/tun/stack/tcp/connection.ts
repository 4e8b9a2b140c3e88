// One TCP connection, terminated here: the peer is the application's
// kernel on the other side of the TUN; the "user" (RFC 9293 terms) is the
// dialer's stream, reached through the TcpApp interface.
//
// Pure core: segments and `now` come in (`onSegment`, `onTimer`), app calls
// come in (`send`, `close`, `abort`, `setAppBacklog`), packets go out
// through `host.output` during `poll(now)` (or at once for RST and the
// immediate ACKs the RFCs require), and `deadline` tells the edge when to
// call `onTimer` next. No I/O, no timers, no clock of its own.
//
// The RFC 9293 §3.10 events are split by kind: the user calls (SEND, CLOSE,
// ABORT) and output live here; SEGMENT ARRIVES is segment-arrives.ts; the
// timeouts are timeouts.ts. Those two reach the connection through the
// members under "for the event handlers" below (the stack never does), so
// every transition, timer change and teardown still happens in this file.
import { formatIp } from '../../../net/ip.js';
import type { TcpRepr } from '../../wire/index.js';
import { SeqNumber } from '../../wire/index.js';
import type { StackStats } from '../stats.js';
import { mssFor, type TcpConfig, windowShiftFor } from './config.js';
import type { TcpApp, TcpCloseReason, TcpEndpoints, TcpHost, TcpSynOptions } from './host.js';
import { TcpOutput } from './output.js';
import { Reassembly } from './reassembly.js';
import { TcpReceiver } from './receiver.js';
import { segmentArrives } from './segment-arrives.js';
import { TcpSender, Transmit } from './sender.js';
import { TCP_STATE_NAMES, TCP_TIMER_NAMES, TcpState, TcpTimer } from './state.js';
import { persistInterval, timerExpired } from './timeouts.js';

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
  /** Builds and emits this connection's segments (for the event handlers). */
  readonly out: TcpOutput;
  readonly config: Readonly<TcpConfig>;
  /** The SYN-ACK goes out at the next poll (first one, lost one, timed-out one). */
  synAckDue = true;

  readonly #host: TcpHost;
  readonly #ourMss: number;
  #scaleNegotiated = false;
  #sendBlocked = false;

  constructor(ends: TcpEndpoints, syn: TcpSynOptions, iss: number, config: TcpConfig, host: TcpHost) {
    this.localAddr = ends.localAddr;
    this.localPort = ends.localPort;
    this.remoteAddr = ends.remoteAddr;
    this.remotePort = ends.remotePort;
    this.#host = host;
    this.config = config;
    const v4 = ends.localAddr.length === 4;
    const ourMss = mssFor(config.mtu, v4 ? 4 : 6);
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
    this.out = new TcpOutput(host, ends, this.snd, this.rcv, syn.sackPermitted === true);
  }

  get stateName(): string {
    return TCP_STATE_NAMES[this.state] as string;
  }

  /** "10.0.0.2:4711 > 10.200.0.1:80" for logs. */
  get name(): string {
    return `${fmt(this.remoteAddr)}:${this.remotePort} > ${fmt(this.localAddr)}:${this.localPort}`;
  }

  get stats(): StackStats {
    return this.#host.stats;
  }

  // ---- app side -----------------------------------------------------------

  /** Queues bytes for the peer. False once the send buffer is full (pause the source). */
  send(data: Uint8Array): boolean {
    if (this.snd.finQueued || !this.#canSend()) {
      this.#host.stats.drops.dataAfterClose++;
      return false;
    }
    this.snd.buffer.push(data);
    const full = this.snd.buffer.length >= this.config.sndBufBytes;
    if (full) this.#sendBlocked = true;
    return !full;
  }

  get sendBufferFull(): boolean {
    return this.snd.buffer.length >= this.config.sndBufBytes;
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
        this.setState(TcpState.FinWait1);
        break;
      case TcpState.CloseWait:
        this.snd.finQueued = true;
        this.setState(TcpState.LastAck);
        break;
      default:
        // Already closing: RFC 9293 "error: connection closing"; nothing to do.
        break;
    }
  }

  /** Resets the connection (RFC 9293 §3.10.5 ABORT): RST to the peer, then CLOSED. */
  abort(): void {
    if (this.state === TcpState.Closed) return;
    if (this.state !== TcpState.TimeWait) this.out.rst();
    this.terminate('aborted');
  }

  /** The dialer's stream now holds `bytes` unwritten; may open the window. */
  setAppBacklog(bytes: number): void {
    this.rcv.backlog = bytes;
  }

  /** True when polling would send a window update. */
  get windowUpdateDue(): boolean {
    return this.#synchronized() && !this.rcv.finReceived && this.rcv.windowUpdateWorth(this.snd.mss);
  }

  // ---- peer side (SEGMENT ARRIVES: segment-arrives.ts) --------------------

  /**
   * One segment from the peer, already parsed into `seg`; `segment` is the
   * TCP header and payload. Returns true if the segment is a new SYN for
   * this 4-tuple that should open a fresh connection (TIME-WAIT reuse).
   */
  onSegment(seg: TcpRepr, segment: Uint8Array, now: number): boolean {
    return segmentArrives(this, seg, segment, now);
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
      this.rcv.reassembly = new Reassembly(this.#host.budget, this.config.reassemblySegments);
    }
    return this.rcv.reassembly;
  }

  // ---- timers (what each expiry does: timeouts.ts) ------------------------

  /** The edge's clock reached `deadline`: disarm, run the expiry, reschedule. */
  onTimer(now: number): void {
    if (now < this.deadline) return;
    const kind = this.timer;
    this.timer = TcpTimer.None;
    this.deadline = Number.POSITIVE_INFINITY;
    timerExpired(this, kind, now);
    // A connection the expiry terminated has already left the stack's heap.
    if (this.state !== TcpState.Closed) this.#host.timerChanged(this);
  }

  // ---- output -------------------------------------------------------------

  /** Sends whatever is due: SYN-ACK, data within the windows, FIN, ACK or window update. */
  poll(now: number): void {
    switch (this.state) {
      case TcpState.Closed:
        return;
      case TcpState.SynReceived:
        if (this.synAckDue) this.#sendSynAck(now);
        return;
      case TcpState.TimeWait:
        if (this.out.ackDue) this.out.ack();
        return;
      default: {
        const sent = this.#sendData(now);
        if (!sent && (this.out.ackDue || this.windowUpdateDue)) this.out.ack();
      }
    }
  }

  #sendSynAck(now: number): void {
    const snd = this.snd;
    this.synAckDue = false;
    this.out.synAck(this.#ourMss, this.#scaleNegotiated ? this.rcv.shift : -1);
    if (SeqNumber.lt(snd.max, SeqNumber.add(snd.iss, 1))) {
      snd.nxt = SeqNumber.add(snd.iss, 1);
      snd.max = snd.nxt;
      snd.rttTiming = true;
      snd.rttSeq = snd.nxt;
      snd.rttStart = now;
    }
    this.armTimer(TcpTimer.Retransmit, now + snd.rtt.rto);
  }

  #sendData(now: number): boolean {
    if (!this.#canTransmit()) return false;
    const result = this.snd.transmit(this.out, now);
    if (result === Transmit.Sent) {
      if (this.timer !== TcpTimer.Retransmit) this.armTimer(TcpTimer.Retransmit, now + this.snd.rtt.rto); // RFC 6298 §5.1
      return true;
    }
    if (result === Transmit.WindowClosed && this.timer !== TcpTimer.Persist) {
      this.armTimer(TcpTimer.Persist, now + persistInterval(this.snd));
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

  get timerName(): string {
    return TCP_TIMER_NAMES[this.timer] as string;
  }

  // ---- for the event handlers (segment-arrives.ts, timeouts.ts) ------------

  /** Every transition goes through here (and is logged FROM -> TO). */
  setState(to: TcpState): void {
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

  armTimer(kind: TcpTimer, at: number): void {
    this.timer = kind;
    this.deadline = at;
    this.#host.timerChanged(this);
  }

  clearTimer(): void {
    if (this.timer === TcpTimer.None) return;
    this.timer = TcpTimer.None;
    this.deadline = Number.POSITIVE_INFINITY;
    this.#host.timerChanged(this);
  }

  /** ACKs freed send-buffer room: wake the app if `send()` refused it before. */
  sendSpaceFreed(): void {
    if (this.#sendBlocked && this.snd.buffer.length < this.config.sndBufBytes) {
      this.#sendBlocked = false;
      this.app?.onSendSpace();
    }
  }

  /** To CLOSED: buffers freed, the stack forgets the connection, the app hears why. */
  terminate(reason: TcpCloseReason): void {
    if (this.state === TcpState.Closed) return;
    this.setState(TcpState.Closed);
    this.clearTimer();
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
