// The dialer is what the stack hands terminated connections to. In
// production it is the tunnel to the cluster (src/tunnel); tests and
// benchmarks use test/helpers/direct-dialer.ts, which connects to real
// local sockets.
//
// Contract (docs/design.md §4, "dial first"):
// - dialTcp resolves with a connected Duplex only once the far side has
//   accepted; the stack answers the SYN only then.
// - It rejects with a DialError whose `reason` picks the stack's answer:
//   refused → RST, unreachable → ICMP destination unreachable, timeout →
//   silence, error → RST.
// - The Duplex carries bytes both ways; `end()` is a half-close (FIN), and
//   `destroy(err)` is a reset in either direction. Backpressure is honoured:
//   the stack stops reading from the app (closes its TCP window) when
//   `write()` returns false.
import type { Duplex } from 'node:stream';
import { KvpnError } from '../../errors.js';

export interface Endpoint {
  /** IP literal, v4 dotted or v6. */
  address: string;
  port: number;
}

export interface DialRequest {
  family: 4 | 6;
  /** Where the application connected to (the cluster address). */
  destination: Endpoint;
  /** The application's side, for logs and per-client limits. */
  source: Endpoint;
  /** Aborted when the stack gives up (app reset, shutdown). */
  signal: AbortSignal;
}

export type DialFailureReason = 'refused' | 'unreachable' | 'timeout' | 'error';

const DIAL_CODES = {
  refused: 'KVPN_ERR_DIAL_REFUSED',
  unreachable: 'KVPN_ERR_DIAL_UNREACHABLE',
  timeout: 'KVPN_ERR_DIAL_TIMEOUT',
  error: 'KVPN_ERR_DIAL_FAILED',
} as const;

export class DialError extends KvpnError {
  readonly reason: DialFailureReason;
  constructor(reason: DialFailureReason, message: string, options: { cause?: unknown } = {}) {
    super(DIAL_CODES[reason], 'cluster', message, options);
    this.reason = reason;
  }
}

/** A UDP flow: datagrams both ways between one app socket and one target. */
export interface DatagramFlow {
  /** Sends one datagram toward the target; false if it was dropped (queue full). */
  send(datagram: Uint8Array): boolean;
  /** Datagrams from the target back to the application. */
  onDatagram(handler: (datagram: Uint8Array) => void): void;
  /** Called once when the flow fails or the far side closes it. */
  onClose(handler: (err?: Error) => void): void;
  close(): void;
}

export interface Dialer {
  dialTcp(request: DialRequest): Promise<Duplex>;
  /** Opens a datagram flow; may reject with a DialError like dialTcp. */
  openUdp(request: DialRequest): Promise<DatagramFlow>;
}
