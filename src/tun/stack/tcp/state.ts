// TCP connection states (RFC 9293 §3.3.2). The stack never listens and
// never connects out: every connection starts in SYN-RECEIVED once the
// dialer has connected (LISTEN-less passive open), so LISTEN and SYN-SENT
// do not exist here.
export const TcpState = {
  Closed: 0,
  SynReceived: 1,
  Established: 2,
  FinWait1: 3,
  FinWait2: 4,
  CloseWait: 5,
  Closing: 6,
  LastAck: 7,
  TimeWait: 8,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

export const TCP_STATE_NAMES: readonly string[] = [
  'CLOSED',
  'SYN-RECEIVED',
  'ESTABLISHED',
  'FIN-WAIT-1',
  'FIN-WAIT-2',
  'CLOSE-WAIT',
  'CLOSING',
  'LAST-ACK',
  'TIME-WAIT',
];

/** Timers as a tagged value: a connection has at most one armed. */
export const TcpTimer = {
  None: 0,
  /** RFC 6298 retransmission (also the SYN-ACK). */
  Retransmit: 1,
  /** Zero-window probe (RFC 9293 §3.8.6.1). */
  Persist: 2,
  /** 2*MSL wait (RFC 9293 §3.6). */
  TimeWait: 3,
} as const;
export type TcpTimer = (typeof TcpTimer)[keyof typeof TcpTimer];
export const TCP_TIMER_NAMES: readonly string[] = ['none', 'retransmit', 'persist', 'time-wait'];
