// The relay's settings, read from its environment (src/relay/manifest.ts
// sets the variables of ../environment.ts; the token comes from a Secret). Pure: the
// environment in, a config or the list of problems out.
import { ENV, type RouterRoute } from '../environment.js';
import { parseAuthority } from '../protocol.js';
import type { LogLevel } from './log.js';

export const DEFAULT_RELAY_PORT = 17071;
export const DEFAULT_IDLE_EXIT_MS = 10 * 60_000;
/**
 * The longest dial the relay makes; a client may ask for less. Not shorter than
 * the client's limit for a whole dial (src/tunnel/dialer.ts, 30 s, started earlier:
 * waiting for a carrier counts), so the client's is the one that decides. The
 * stack has none of its own (the 10 s it seemed to have was the test dialer's).
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
export const DEFAULT_TCP_IDLE_MS = 2 * 60 * 60_000;
/**
 * Twice the laptop's (src/tun/stack/stack.ts, 60 s), on purpose: the laptop ends
 * idle flows and the relay hears END_STREAM; this limit only ends flows whose
 * client vanished without a word.
 */
export const DEFAULT_UDP_IDLE_MS = 120_000;
/** Open flows over all carriers; matches 4 carriers × MAX_CONCURRENT_STREAMS. */
export const DEFAULT_MAX_STREAMS = 32768;
/** The laptop's carriers may be reconnecting: a listener with nothing parked stays this long. */
export const DEFAULT_INBOUND_LINGER_MS = 10_000;
export const DEFAULT_INBOUND_WAIT_MS = 5000;
/** Datagrams queued toward the client per UDP flow before new ones are dropped. */
export const UDP_FLOW_QUEUE_BYTES = 1024 * 1024;

/** Router mode (an intercepted Service's router, src/relay/server/router): see routerConfigFromEnv. */
export const MAX_ROUTER_ROUTES = 32;
export const DEFAULT_ROUTER_PING_INTERVAL_MS = 1000;
export const DEFAULT_ROUTER_PING_TIMEOUT_MS = 2000;
export const DEFAULT_ROUTER_WAIT_MS = 2000;
/** A server-speaks-first protocol sends nothing: after this long the connection goes to the pods raw. */
export const DEFAULT_ROUTER_SNIFF_MS = 1000;
export const DEFAULT_ROUTER_STATS_INTERVAL_MS = 1000;

export type RelayMode = 'relay' | 'router';

export interface RelayConfig {
  /** `relay`: the session's relay; `router`: an intercepted Service's router (idleExitMs is then 0). */
  mode: RelayMode;
  /** Router only: the ports it listens on and where traffic not intercepted goes. */
  routes: RouterRoute[];
  /** Router: PING every carrier that holds registrations or parked streams this often… */
  routerPingIntervalMs: number;
  /** …and destroy it when the PING is not acknowledged within this (its intercepts fail open). */
  routerPingTimeoutMs: number;
  /** Router: how long a connection or request for an intercept waits for a parked stream before going to the pods. */
  routerWaitMs: number;
  /** Router: how long a connection to a port with personal intercepts may stay silent before it goes raw to the pods. */
  routerSniffMs: number;
  /** Router: how often a registration stream gets a counters line (when they changed). */
  routerStatsIntervalMs: number;
  token: string;
  /** Always loopback in a pod: port-forward arrives there and nowhere else can. */
  host: string;
  port: number;
  /** Exit after this long with no client connected (0: never). */
  idleExitMs: number;
  /** Upper bound for a dial; a request may ask for less. */
  connectTimeoutMs: number;
  tcpIdleMs: number;
  udpIdleMs: number;
  /** TCP streams + UDP flows open at once, over all carriers. */
  maxStreams: number;
  /** An inbound listener with nothing parked closes after this long. */
  inboundLingerMs: number;
  /** An inbound connection waits this long for a parked stream, then is reset. */
  inboundWaitMs: number;
  logLevel: LogLevel;
}

export function relayConfigFromEnv(env: Record<string, string | undefined>): RelayConfig | { errors: string[] } {
  const errors: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      errors.push(`${name}=${raw} is not an integer in [${min}, ${max}]`);
      return fallback;
    }
    return n;
  };
  const token = env[ENV.token] ?? '';
  if (token.length < 16) errors.push(`${ENV.token} must be set (at least 16 characters)`);
  const logLevel = (env[ENV.logLevel] ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) errors.push(`${ENV.logLevel}=${logLevel} is not a level`);
  const mode = (env[ENV.mode] || 'relay') as RelayMode;
  if (mode !== 'relay' && mode !== 'router') errors.push(`${ENV.mode}=${mode} is not relay or router`);
  const routes = mode === 'router' ? parseRoutes(env[ENV.routes], errors) : [];
  const config: RelayConfig = {
    mode,
    routes,
    routerPingIntervalMs: DEFAULT_ROUTER_PING_INTERVAL_MS,
    routerPingTimeoutMs: DEFAULT_ROUTER_PING_TIMEOUT_MS,
    routerWaitMs: DEFAULT_ROUTER_WAIT_MS,
    routerSniffMs: DEFAULT_ROUTER_SNIFF_MS,
    routerStatsIntervalMs: DEFAULT_ROUTER_STATS_INTERVAL_MS,
    token,
    host: '127.0.0.1',
    port: int(ENV.port, DEFAULT_RELAY_PORT, 1, 65535),
    idleExitMs: int(ENV.idleExitMs, DEFAULT_IDLE_EXIT_MS, 0, 7 * 24 * 3600_000),
    connectTimeoutMs: int(ENV.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS, 100, 600_000),
    tcpIdleMs: int(ENV.tcpIdleMs, DEFAULT_TCP_IDLE_MS, 1000, 7 * 24 * 3600_000),
    udpIdleMs: int(ENV.udpIdleMs, DEFAULT_UDP_IDLE_MS, 1000, 24 * 3600_000),
    maxStreams: int(ENV.maxStreams, DEFAULT_MAX_STREAMS, 1, 1_000_000),
    inboundLingerMs: DEFAULT_INBOUND_LINGER_MS,
    inboundWaitMs: DEFAULT_INBOUND_WAIT_MS,
    logLevel,
  };
  // A router serves a Service for as long as it is intercepted: it never exits for lack of laptops.
  if (mode === 'router') config.idleExitMs = 0;
  return errors.length ? { errors } : config;
}

/** KVPN_ROUTER_ROUTES: a JSON list of 1–MAX_ROUTER_ROUTES `{port, upstream: "host:port"}`, ports unique. */
function parseRoutes(raw: string | undefined, errors: string[]): RouterRoute[] {
  const name = ENV.routes;
  if (!raw) {
    errors.push(`${name} must be set in router mode`);
    return [];
  }
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    errors.push(`${name} is not JSON`);
    return [];
  }
  if (!Array.isArray(list) || list.length < 1 || list.length > MAX_ROUTER_ROUTES) {
    errors.push(`${name} must be a list of 1-${MAX_ROUTER_ROUTES} routes`);
    return [];
  }
  const routes: RouterRoute[] = [];
  const seen = new Set<number>();
  for (const [i, r] of list.entries()) {
    const { port, upstream } = (r ?? {}) as Partial<RouterRoute>;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      errors.push(`${name}[${i}].port must be an integer in [1, 65535]`);
    } else if (seen.has(port)) {
      errors.push(`${name}[${i}].port ${port} appears twice`);
    } else if (typeof upstream !== 'string' || !parseAuthority(upstream)) {
      errors.push(`${name}[${i}].upstream must be host:port`);
    } else {
      seen.add(port);
      routes.push({ port, upstream });
    }
  }
  return routes;
}
