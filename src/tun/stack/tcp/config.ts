// Tunables of the TCP core, with the defaults the stack uses.
import { IPV4_HEADER_LEN, IPV6_HEADER_LEN, TCP_HEADER_LEN } from '../../wire/index.js';
import { DEFAULT_MIN_RTO_MS } from './rtt.js';

export interface TcpConfig {
  /** TUN MTU; our MSS is MTU minus the IP and TCP headers. */
  mtu: number;
  /** Receive buffer toward the dialer: the most we ever advertise. */
  rcvBufBytes: number;
  /** Send buffer: bytes from the dialer not yet acknowledged by the app. */
  sndBufBytes: number;
  minRtoMs: number;
  /** 2*MSL (RFC 9293 §3.6); shortened, see docs/stack.md. */
  timeWaitMs: number;
  /** Retransmissions of one segment before the connection is reset (like tcp_retries2). */
  maxRetransmits: number;
  maxSynAckRetransmits: number;
  /** Out-of-order segments held per connection. */
  reassemblySegments: number;
}

export const DEFAULT_TCP_CONFIG: Readonly<TcpConfig> = {
  mtu: 65520,
  rcvBufBytes: 4 * 1024 * 1024,
  sndBufBytes: 4 * 1024 * 1024,
  minRtoMs: DEFAULT_MIN_RTO_MS,
  timeWaitMs: 10_000,
  maxRetransmits: 15,
  maxSynAckRetransmits: 5,
  reassemblySegments: 1024,
};

/** Our MSS for an address family at this MTU (RFC 9293 §3.7.1). */
export function mssFor(mtu: number, family: 4 | 6): number {
  return mtu - (family === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN) - TCP_HEADER_LEN;
}

/** Smallest window-scale shift that lets `bytes` fit the 16-bit field (RFC 7323 §2.2). */
export function windowShiftFor(bytes: number): number {
  let shift = 0;
  while (shift < 14 && bytes >>> shift > 0xffff) shift++;
  return shift;
}
