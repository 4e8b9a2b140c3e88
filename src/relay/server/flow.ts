// What the relay server hands each flow handler (relay-tcp, relay-udp): its
// limits, a logger, and callbacks that keep the server's counters and free
// the flow's slot exactly once.
import type { DialOutcome } from '../protocol.js';
import type { RelayLog } from './log.js';

export interface FlowContext {
  readonly log: RelayLog;
  /** This flow's dial timeout (the request's, capped by the relay's). */
  readonly connectTimeoutMs: number;
  /** Close the flow after this long without a byte or datagram either way. */
  readonly idleMs: number;
  now(): number;
  dialed(host: string, port: number, elapsedMs: number): void;
  dialFailed(outcome: DialOutcome, host: string, port: number, elapsedMs: number): void;
  counted(bytesToTarget: number, bytesFromTarget: number): void;
  /** Datagrams dropped because the client side was not taking them. */
  dropped(datagrams: number): void;
  /** The flow is over; called once. */
  release(): void;
}
