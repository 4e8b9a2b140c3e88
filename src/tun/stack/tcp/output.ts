// Builds and emits one connection's segments. Every segment carries the
// current ACK and window (RCV.NXT, the receiver's window field), so any
// segment we send also acknowledges: `ackDue` is cleared by each write.
import {
  beginTcpPacket,
  finishTcpPacket,
  SeqNumber,
  TcpControl,
  type TcpRepr,
  tcpPayloadOffset,
} from '../../wire/index.js';

/** 4 blocks fit the 40 option bytes when timestamps are off (2 + 8n + 2 NOPs). */
const TCP_SACK_BLOCKS = 4;

import type { TcpEndpoints, TcpHost } from './host.js';
import type { TcpReceiver } from './receiver.js';
import type { TcpSender } from './sender.js';

export class TcpOutput {
  /** An ACK should go out at the next poll (cleared by any segment). */
  ackDue = false;
  readonly #host: TcpHost;
  readonly #ends: TcpEndpoints;
  readonly #snd: TcpSender;
  readonly #rcv: TcpReceiver;
  /**
   * The peer offered SACK-permitted: our SYN-ACK agrees and every ACK sent
   * while out-of-order data is held carries SACK blocks (RFC 2018), so the
   * peer retransmits only the holes. (SACK blocks the peer sends us are
   * parsed and ignored: our sender recovers with NewReno.)
   */
  readonly #sack: boolean;

  constructor(host: TcpHost, ends: TcpEndpoints, snd: TcpSender, rcv: TcpReceiver, sack: boolean) {
    this.#host = host;
    this.#ends = ends;
    this.#snd = snd;
    this.#rcv = rcv;
    this.#sack = sack;
  }

  /** A segment at `seq` carrying `len` bytes from send-buffer offset `bufOffset`. */
  segment(seq: number, control: TcpControl, bufOffset: number, len: number): void {
    const r = this.#host.scratch.clear();
    r.control = control;
    this.#write(r, seq, this.#rcv.windowField(), bufOffset, len);
  }

  /** A pure ACK at SND.NXT. */
  ack(): void {
    this.segment(this.#snd.nxt, TcpControl.None, 0, 0);
  }

  /** RST at SND.NXT (ABORT, retransmissions exhausted). */
  rst(): void {
    const r = this.#host.scratch.clear();
    r.control = TcpControl.Rst;
    this.#write(r, this.#snd.nxt, 0, 0, 0);
    this.#host.stats.tcp.resetsSent++;
  }

  /** RST for an unacceptable ACK in SYN-RECEIVED: <SEQ=SEG.ACK><CTL=RST>. */
  rstFor(ack: number): void {
    const e = this.#ends;
    const r = this.#host.scratch.clear();
    r.control = TcpControl.Rst;
    r.srcPort = e.localPort;
    r.dstPort = e.remotePort;
    r.seqNumber = ack;
    const packet = beginTcpPacket(e.localAddr, e.remoteAddr, r);
    finishTcpPacket(packet, e.localAddr, e.remoteAddr);
    this.#host.stats.tcp.resetsSent++;
    this.#host.stats.tcp.segmentsOut++;
    this.#host.output(packet);
  }

  /** SYN-ACK with our MSS and, if negotiated, our window-scale shift (-1: none). */
  synAck(mss: number, windowScale: number): void {
    const r = this.#host.scratch.clear();
    r.control = TcpControl.Syn;
    r.maxSegSize = Math.min(mss, 0xffff);
    r.windowScale = windowScale;
    r.sackPermitted = this.#sack;
    // RFC 7323 §2.2: the window in a SYN is never scaled.
    const win = Math.min(0xffff, this.#rcv.free);
    this.#rcv.advEdge = SeqNumber.add(this.#rcv.nxt, win);
    this.#write(r, this.#snd.iss, win, 0, 0);
  }

  #write(r: TcpRepr, seq: number, window: number, bufOffset: number, len: number): void {
    const e = this.#ends;
    r.srcPort = e.localPort;
    r.dstPort = e.remotePort;
    r.seqNumber = seq;
    r.hasAck = true;
    r.ackNumber = this.#rcv.nxt;
    r.windowLen = window;
    r.payloadLen = len;
    const ooo = this.#rcv.reassembly;
    if (this.#sack && ooo !== null && ooo.segments > 0 && r.control !== TcpControl.Syn) {
      r.sackCount = ooo.sackBlocks(r.sackRanges, TCP_SACK_BLOCKS);
    }
    const packet = beginTcpPacket(e.localAddr, e.remoteAddr, r);
    if (len > 0) {
      this.#snd.buffer.copyOut(bufOffset, len, packet, tcpPayloadOffset(e.localAddr, r));
      this.#host.stats.tcp.bytesToApp += len;
    }
    finishTcpPacket(packet, e.localAddr, e.remoteAddr);
    this.ackDue = false;
    this.#host.stats.tcp.segmentsOut++;
    this.#host.output(packet);
  }
}
