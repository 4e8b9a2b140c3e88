// The contracts around one TcpConnection: what it needs from the stack
// (TcpHost), what it tells the dialer side (TcpApp), and what it is built
// from (the 4-tuple and the peer's SYN).
import type { TcpRepr } from '../../wire/index.js';
import type { StackStats } from '../stats.js';
import type { TcpConnection } from './connection.js';
import type { ReassemblyBudget } from './reassembly.js';

export type TcpCloseReason = 'closed' | 'reset' | 'timeout' | 'aborted';

/** The dialer side of a connection (see stream-bridge.ts). */
export interface TcpApp {
  /** In-order bytes from the peer; a fresh copy the app may keep. */
  onData(data: Uint8Array): void;
  /** The peer sent FIN after all its data: half-close toward the dialer. */
  onPeerFin(): void;
  /** The send buffer has room again. */
  onSendSpace(): void;
  /** The connection is gone (RST received, timed out, aborted, or closed in order). */
  onClosed(reason: TcpCloseReason): void;
}

/** What the connection needs from the stack. */
export interface TcpHost {
  output(packet: Uint8Array): void;
  /** The connection's deadline changed (reschedule it). */
  timerChanged(conn: TcpConnection): void;
  /** The connection reached CLOSED and must be forgotten. */
  connectionClosed(conn: TcpConnection, reason: TcpCloseReason): void;
  /** The connection entered TIME-WAIT (the stack may recycle it under pressure). */
  enteredTimeWait(conn: TcpConnection): void;
  readonly stats: StackStats;
  readonly budget: ReassemblyBudget;
  readonly scratch: TcpRepr;
  readonly log: ((message: string) => void) | null;
}

/** The parts of the peer's SYN the connection needs. */
export interface TcpSynOptions {
  seq: number;
  window: number;
  /** MSS option or 0. */
  mss: number;
  /** Window-scale shift offered or -1. */
  windowScale: number;
  /** SACK-permitted offered (RFC 2018): we then report out-of-order data in SACK blocks. */
  sackPermitted?: boolean;
}

export interface TcpEndpoints {
  /** The address the application connected to (we answer as it). */
  localAddr: Uint8Array;
  localPort: number;
  /** The application's address. */
  remoteAddr: Uint8Array;
  remotePort: number;
}
