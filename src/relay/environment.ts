// The relay program's environment: the variables src/relay/manifest.ts sets on
// the pod and src/relay/server/config.ts reads. The one contract between how
// the relay is deployed and the program that runs.
export const ENV = {
  token: 'KVPN_RELAY_TOKEN',
  port: 'KVPN_RELAY_PORT',
  idleExitMs: 'KVPN_RELAY_IDLE_EXIT_MS',
  connectTimeoutMs: 'KVPN_RELAY_CONNECT_TIMEOUT_MS',
  tcpIdleMs: 'KVPN_RELAY_TCP_IDLE_MS',
  udpIdleMs: 'KVPN_RELAY_UDP_IDLE_MS',
  maxStreams: 'KVPN_RELAY_MAX_STREAMS',
  logLevel: 'KVPN_RELAY_LOG_LEVEL',
  /** `relay` (default: the session's relay) or `router` (an intercepted Service's header router). */
  mode: 'KVPN_RELAY_MODE',
  /** Router only: JSON RouterRoute[], what it listens on and where un-intercepted traffic goes. */
  routes: 'KVPN_ROUTER_ROUTES',
} as const;

/** One listening port of a router: traffic not intercepted goes on to `upstream` (the decoy Service). */
export interface RouterRoute {
  /** The port the router listens on (all addresses of its pod); intercept specs name it. */
  port: number;
  /** host:port of the workload's own pods, through the decoy Service's ClusterIP. */
  upstream: string;
}
