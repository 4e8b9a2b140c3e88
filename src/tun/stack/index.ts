// The userspace TCP/UDP/ICMP stack: terminates every connection the kernel
// routes into the TUN and hands it to a Dialer as a byte stream (TCP) or a
// datagram flow (UDP).
//
// Data flow: TunDevice batch → Stack (stack.ts: parse, route, one timer)
// → TCP: flow table → TcpConnection (tcp/connection.ts, pure core) ⇄
// StreamBridge ⇄ Duplex from the Dialer; unknown SYNs → TcpForwarder (dial
// first). UDP → UdpService → DatagramFlow. ICMP echo to our own addresses.
// Everything a batch produces leaves in one device.writeBatch().
export type { DatagramFlow, Dialer, DialFailureReason, DialRequest, Endpoint } from './dialer.js';
export { DialError } from './dialer.js';
export { Stack, type StackOptions } from './stack.js';
export { DROP_REASONS, type DropReason, type StackStats } from './stats.js';
export { DEFAULT_TCP_CONFIG, type TcpConfig } from './tcp/config.js';
