// The session's log: one line per event, timestamped, to the session's log
// file (sessionLogger) or any sink (tests). Lines are human-readable first:
// `2025-01-02T03:04:05.678Z info relay ready pod=kvpn-relay-1a2b`.
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

function formatValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === 'string') return /^[\w./:@,+-]*$/.test(v) && v !== '' ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

export function formatLine(
  level: LogLevel,
  message: string,
  fields: Record<string, unknown> = {},
  now = new Date(),
): string {
  const extra = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}=${formatValue(v)}`)
    .join('');
  return `${now.toISOString()} ${level} ${message}${extra}\n`;
}

export function streamLogger(write: (line: string) => void, minLevel: LogLevel = 'info'): Logger {
  const order: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  const min = order.indexOf(minLevel);
  const at =
    (level: LogLevel) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (order.indexOf(level) >= min) write(formatLine(level, message, fields));
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLogger: Logger = streamLogger(() => {}, 'error');

/**
 * The session log: lines wait in memory until the session knows its log
 * file (after reading the kubeconfig), then go there. If the session never
 * gets that far, `flushTo` sends them elsewhere (the daemon's stderr).
 */
export interface SessionLogger extends Logger {
  attach(path: string): void;
  flushTo(write: (line: string) => void): void;
}

export const LOG_BUFFER_MAX_LINES = 1000;

export function sessionLogger(minLevel: LogLevel, echo?: (line: string) => void): SessionLogger {
  let pending: string[] = [];
  let file: string | undefined;
  const write = (line: string): void => {
    echo?.(line);
    if (file) {
      try {
        appendFileSync(file, line, { mode: 0o600 });
      } catch {}
    } else if (pending.length < LOG_BUFFER_MAX_LINES) pending.push(line);
  };
  const logger = streamLogger(write, minLevel);
  return {
    ...logger,
    attach(path) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      file = path;
      for (const line of pending) appendFileSync(file, line, { mode: 0o600 });
      pending = [];
    },
    flushTo(out) {
      for (const line of pending) out(line);
      pending = [];
    },
  };
}
