// The tunnel: the stack's dial requests become connections made from a relay
// pod inside the cluster (DESIGN.md decisions 5–7, docs/protocol.md).
//
//   stack ─ Dialer.dialTcp/openUdp ─► TunnelDialer ─► SessionPool: N × TunnelSession (HTTP/2)
//                                                        └─ TunnelTransport: port-forward WebSocket (src/kube/port-forward.ts)
//   relay pod (src/proxy/relay-*.ts, bundled to dist/relay/relay.js, deployed by src/kube/relay.ts):
//     RelayServer on 127.0.0.1 ─► relay-tcp / relay-udp / relay-resolve ─► cluster targets
//
// The CLI uses: deployRelay / findLeftoverRelays / removeLeftoverRelay (src/kube/relay.ts) and
// TunnelDialer (here).

export { TUNNEL_PROTOCOL_VERSION } from './protocol.js';
export { TunnelConnection, TunnelResetError } from './tunnel-connection.js';
export type { TunnelDatagramFlow } from './tunnel-datagram-flow.js';
export {
  DEFAULT_DIAL_TIMEOUT_MS,
  DEFAULT_SESSIONS,
  TunnelClosedError,
  TunnelDialer,
  type TunnelDialerOptions,
  type TunnelState,
  type TunnelStateChange,
  type TunnelStats,
} from './tunnel-dialer.js';
export type { RelayInfo } from './tunnel-session.js';
export { PortForwardTransport, type RelayEndpoint, type TunnelTransport } from './tunnel-transport.js';
