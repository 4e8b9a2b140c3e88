// Timeouts (RFC 9293 §3.10.8): what each expiry of a connection's one
// timer does (the TcpTimer tagged value, state.ts). Retransmission (RFC
// 6298; in SYN-RECEIVED it resends the SYN-ACK), persist (the zero-window
// probe, RFC 9293 §3.8.6.1) and TIME-WAIT (2 MSL). The connection disarms
// the timer before calling in and reschedules after (connection.ts).
import { SeqNumber, TcpControl } from '../../wire/index.js';
import type { TcpConnection } from './connection.js';
import { MAX_RTO_MS } from './rtt.js';
import type { TcpSender } from './sender.js';
import { TcpState, TcpTimer } from './state.js';

/** The `kind` timer of `conn` expired at `now` (it is already disarmed). */
export function timerExpired(conn: TcpConnection, kind: TcpTimer, now: number): void {
  const snd = conn.snd;
  const stats = conn.stats.tcp;
  switch (kind) {
    case TcpTimer.Retransmit:
      if (conn.state === TcpState.SynReceived) {
        if (++snd.retries > conn.config.maxSynAckRetransmits) {
          stats.timeouts++;
          conn.terminate('timeout');
          return;
        }
        snd.rtt.backoff();
        snd.rttTiming = false;
        conn.synAckDue = true;
        stats.retransmits++;
        return;
      }
      if (snd.retries >= conn.config.maxRetransmits) {
        stats.timeouts++;
        conn.out.rst();
        conn.terminate('timeout');
        return;
      }
      stats.retransmits++;
      snd.onRetransmitTimeout();
      conn.armTimer(TcpTimer.Retransmit, now + snd.rtt.rto);
      return;
    case TcpTimer.Persist:
      // RFC 9293 §3.8.6.1: probe the zero window. Like Linux we send an
      // empty segment one below SND.UNA: the peer must answer with an ACK
      // carrying its current window, and no sequence space is used.
      stats.zeroWindowProbes++;
      conn.out.segment(SeqNumber.add(snd.una, -1), TcpControl.None, 0, 0);
      snd.persistBackoff++;
      conn.armTimer(TcpTimer.Persist, now + persistInterval(snd));
      return;
    case TcpTimer.TimeWait:
      conn.terminate('closed');
      return;
    default:
      return;
  }
}

/** Persist timer period: the RTO, doubled per unanswered probe, capped like the RTO. */
export function persistInterval(snd: TcpSender): number {
  return Math.min(MAX_RTO_MS, snd.rtt.rto * 2 ** snd.persistBackoff);
}
