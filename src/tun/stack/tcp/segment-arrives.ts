// SEGMENT ARRIVES (RFC 9293 §3.10.7.4) for one connection in SYN-RECEIVED
// or a synchronized state: the checks in the RFC's order, each cited —
// sequence number, RST, SYN, ACK, segment text, FIN — and the transitions
// they cause. LISTEN and SYN-SENT do not exist here (see state.ts).
//
// This file decides; the connection keeps the books: every transition
// goes through `conn.setState()`, timers through `armTimer`/`clearTimer`,
// the end through `terminate()` (connection.ts).
import { SeqNumber, TcpControl, type TcpRepr } from '../../wire/index.js';
import type { TcpConnection } from './connection.js';
import { AckResult } from './sender.js';
import { TcpState, TcpTimer } from './state.js';

/**
 * One segment from the peer, already parsed into `seg`; `segment` is the
 * TCP header and payload. Returns true if the segment is a new SYN for
 * this 4-tuple that should open a fresh connection (TIME-WAIT reuse).
 */
export function segmentArrives(conn: TcpConnection, seg: TcpRepr, segment: Uint8Array, now: number): boolean {
  const stats = conn.stats;
  const out = conn.out;
  stats.tcp.segmentsIn++;
  const control = seg.control;
  const segLen = seg.segmentLen;

  switch (conn.state) {
    case TcpState.Closed:
      return false;
    case TcpState.SynReceived:
      if (control === TcpControl.Syn && seg.seqNumber === conn.rcv.irs) {
        // Our SYN-ACK was lost and the peer retransmitted its SYN.
        conn.synAckDue = true;
        return false;
      }
      break;
    case TcpState.TimeWait:
      // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN above RCV.NXT may reopen.
      if (control === TcpControl.Syn && !seg.hasAck && SeqNumber.gt(seg.seqNumber, conn.rcv.nxt)) {
        conn.terminate('closed');
        return true;
      }
      break;
    default:
      break;
  }

  // First check: sequence number (RFC 9293 §3.10.7.4).
  if (!conn.rcv.acceptable(seg.seqNumber, segLen)) {
    if (conn.rcv.alreadyReceived(seg.seqNumber, segLen)) stats.drops.duplicate++;
    else stats.drops.outOfWindow++;
    if (control !== TcpControl.Rst) out.ack();
    return false;
  }

  // Second check: RST (RFC 9293 §3.10.7.4 with RFC 5961 §3.2).
  if (control === TcpControl.Rst) {
    stats.tcp.resetsReceived++;
    if (seg.seqNumber === conn.rcv.nxt || conn.state === TcpState.SynReceived) {
      conn.terminate(conn.state === TcpState.TimeWait ? 'closed' : 'reset');
    } else {
      out.ack(); // challenge ACK
    }
    return false;
  }

  // Fourth check: SYN in a synchronized state → challenge ACK (RFC 5961 §4.2).
  if (control === TcpControl.Syn) {
    out.ack();
    return false;
  }

  // Fifth check: ACK.
  if (!seg.hasAck) {
    stats.drops.noAck++;
    return false;
  }
  if (conn.state === TcpState.SynReceived) {
    // RFC 9293: if SND.UNA < SEG.ACK =< SND.NXT enter ESTABLISHED, else RST.
    if (!(SeqNumber.lt(conn.snd.una, seg.ackNumber) && SeqNumber.le(seg.ackNumber, conn.snd.max))) {
      stats.drops.badAck++;
      out.rstFor(seg.ackNumber);
      return false;
    }
    conn.setState(TcpState.Established);
    conn.clearTimer();
    if (conn.snd.finQueued) conn.setState(TcpState.FinWait1);
  }
  if (!processAck(conn, seg, now)) return false;

  switch (conn.state) {
    case TcpState.FinWait1:
      // RFC 9293: our FIN acknowledged → FIN-WAIT-2.
      if (conn.snd.finAcked) conn.setState(TcpState.FinWait2);
      break;
    case TcpState.Closing:
      if (conn.snd.finAcked) {
        conn.setState(TcpState.TimeWait);
        conn.armTimer(TcpTimer.TimeWait, now + conn.config.timeWaitMs);
      }
      break;
    case TcpState.LastAck:
      if (conn.snd.finAcked) {
        conn.terminate('closed');
        return false;
      }
      break;
    case TcpState.TimeWait:
      // RFC 9293: the only thing that can arrive is a retransmitted FIN; ack it, restart 2 MSL.
      if (control === TcpControl.Fin) {
        out.ackDue = true;
        conn.armTimer(TcpTimer.TimeWait, now + conn.config.timeWaitMs);
      }
      return false;
    default:
      break;
  }

  // Seventh check: segment text, in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2 only.
  if (seg.payloadLen > 0) {
    const state = conn.state;
    if (state === TcpState.Established || state === TcpState.FinWait1 || state === TcpState.FinWait2) {
      if (conn.rcv.receiveText(seg, segment, out, conn, stats)) acceptFin(conn, now);
    } else {
      // After the peer's FIN any further data is an error; just re-ACK.
      out.ackDue = true;
    }
  }

  // Eighth check: FIN.
  if (control === TcpControl.Fin) {
    const finSeq = SeqNumber.add(seg.seqNumber, seg.payloadLen);
    if (finSeq === conn.rcv.nxt) acceptFin(conn, now);
    else if (SeqNumber.gt(finSeq, conn.rcv.nxt) && SeqNumber.lt(finSeq, conn.rcv.advEdge)) {
      conn.reassembly().finSeq = finSeq;
    }
  }
  return false;
}

/** Fifth check, synchronized states: the sender takes the ACK, the timers follow. False drops the segment. */
function processAck(conn: TcpConnection, seg: TcpRepr, now: number): boolean {
  const snd = conn.snd;
  const r = snd.onAck(seg, now, conn.out, conn.stats);
  if ((r & AckResult.Drop) !== 0) return false;
  if ((r & AckResult.Advanced) !== 0) {
    if (snd.una === snd.max) {
      if (conn.timer === TcpTimer.Retransmit) conn.clearTimer(); // RFC 6298 §5.2
    } else {
      conn.armTimer(TcpTimer.Retransmit, now + snd.rtt.rto); // §5.3
    }
    conn.sendSpaceFreed();
  }
  if ((r & AckResult.WindowOpened) !== 0 && conn.timer === TcpTimer.Persist) {
    snd.persistBackoff = 0;
    conn.clearTimer();
    if (snd.una !== snd.max) conn.armTimer(TcpTimer.Retransmit, now + snd.rtt.rto);
  }
  return true;
}

/** The peer's FIN is next in sequence: consume it, half-close toward the app. */
function acceptFin(conn: TcpConnection, now: number): void {
  const rcv = conn.rcv;
  rcv.nxt = SeqNumber.add(rcv.nxt, 1);
  rcv.finReceived = true;
  rcv.reassembly?.clear();
  conn.out.ackDue = true;
  switch (conn.state) {
    case TcpState.SynReceived:
    case TcpState.Established:
      conn.setState(TcpState.CloseWait);
      break;
    case TcpState.FinWait1:
      // Our FIN not acknowledged yet (else we would be in FIN-WAIT-2): simultaneous close.
      conn.setState(TcpState.Closing);
      break;
    case TcpState.FinWait2:
      conn.setState(TcpState.TimeWait);
      conn.armTimer(TcpTimer.TimeWait, now + conn.config.timeWaitMs);
      break;
    default:
      break;
  }
  conn.app?.onPeerFin();
}
