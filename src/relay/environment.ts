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
} as const;
