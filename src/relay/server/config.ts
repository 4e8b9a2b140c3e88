// The relay's settings, read from its environment (src/relay/manifest.ts
// sets the variables of ../environment.ts; the token comes from a Secret). Pure: the
// environment in, a config or the list of problems out.
import { ENV } from '../environment.js';
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

export interface RelayConfig {
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
  const config: RelayConfig = {
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
  return errors.length ? { errors } : config;
}
