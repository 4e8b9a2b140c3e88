// The session's log: one line per event, timestamped, to a stream (the
// daemon's stderr is its log file; tests pass a memory sink). Lines are
// human-readable first: `2025-01-02T03:04:05.678Z info relay ready pod=kvpn-relay-1a2b`.
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
