// Counters the stack keeps; `kvpn status` shows them. Every packet the
// stack refuses is counted under exactly one drop reason.
import type { DialFailureReason } from './dialer.js';

export const DROP_REASONS = [
  /** IP/TCP/UDP/ICMP header shorter than it claims. */
  'truncated',
  /** Illegal field values or flag combinations. */
  'malformed',
  /** Checksum mismatch (only when verification is on). */
  'checksum',
  /** Fragments, unknown protocols, ICMP types we do not handle. */
  'unsupported',
  /** Segment for no known connection (answered with RST when allowed). */
  'noConnection',
  /** Segment wholly before RCV.NXT: an old duplicate of what was already received (answered with ACK). */
  'duplicate',
  /** Segment reaching beyond the receive window, or any data into a zero window (answered with ACK). */
  'outOfWindow',
  /** ACK for data never sent, or a bad ACK in SYN-RECEIVED. */
  'badAck',
  /** Segment without ACK in a synchronized state. */
  'noAck',
  /** Out-of-order data that did not fit the reassembly bounds. */
  'reassemblyFull',
  /** SYN refused because the connection table is full. */
  'connectionLimit',
  /** SYN refused because too many dials are pending. */
  'pendingDialLimit',
  /** SYN retransmitted while its dial was pending (absorbed). */
  'synWhileDialing',
  /** Data the app sent after it had already closed its side. */
  'dataAfterClose',
  /** UDP datagram dropped: flow queue full or flow table full. */
  'udpQueueFull',
  'udpFlowLimit',
  /** ICMP messages we read and ignore (errors about our packets, ND, echo to others). */
  'icmpIgnored',
  /** Packets the TUN device could not queue for writing. */
  'deviceWriteQueueFull',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface TcpStats {
  connectionsOpen: number;
  connectionsTotal: number;
  pendingDials: number;
  timeWait: number;
  /** TIME-WAIT connections ended early to make room for new ones. */
  timeWaitRecycled: number;
  /** Payload bytes from the application toward the dialer, and back. */
  bytesFromApp: number;
  bytesToApp: number;
  segmentsIn: number;
  segmentsOut: number;
  retransmits: number;
  fastRetransmits: number;
  zeroWindowProbes: number;
  resetsSent: number;
  resetsReceived: number;
  /** Connections given up after exhausting retransmissions. */
  timeouts: number;
}

export interface UdpStats {
  flowsOpen: number;
  flowsTotal: number;
  datagramsFromApp: number;
  datagramsToApp: number;
  bytesFromApp: number;
  bytesToApp: number;
}

export interface IcmpStats {
  echoReplies: number;
  unreachableSent: number;
}

export interface StackStats {
  tcp: TcpStats;
  udp: UdpStats;
  icmp: IcmpStats;
  drops: Record<DropReason, number>;
  dialErrors: Record<DialFailureReason, number>;
  packetsIn: number;
  packetsOut: number;
}

export function createStackStats(): StackStats {
  return {
    tcp: {
      connectionsOpen: 0,
      connectionsTotal: 0,
      pendingDials: 0,
      timeWait: 0,
      timeWaitRecycled: 0,
      bytesFromApp: 0,
      bytesToApp: 0,
      segmentsIn: 0,
      segmentsOut: 0,
      retransmits: 0,
      fastRetransmits: 0,
      zeroWindowProbes: 0,
      resetsSent: 0,
      resetsReceived: 0,
      timeouts: 0,
    },
    udp: { flowsOpen: 0, flowsTotal: 0, datagramsFromApp: 0, datagramsToApp: 0, bytesFromApp: 0, bytesToApp: 0 },
    icmp: { echoReplies: 0, unreachableSent: 0 },
    drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    dialErrors: { refused: 0, unreachable: 0, timeout: 0, error: 0 },
    packetsIn: 0,
    packetsOut: 0,
  };
}
