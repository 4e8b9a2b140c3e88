// Structured relay logs: one JSON object per line on stdout, so
// `kubectl logs` shows them and log pipelines can parse them.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | undefined>;

export class RelayLog {
  readonly #min: number;
  readonly #write: (line: string) => void;
  readonly #now: () => number;

  constructor(level: LogLevel, write: (line: string) => void, now: () => number = Date.now) {
    this.#min = RANK[level];
    this.#write = write;
    this.#now = now;
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.#min;
  }

  debug(msg: string, fields?: LogFields): void {
    this.#log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#log('error', msg, fields);
  }

  #log(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (RANK[level] < this.#min) return;
    this.#write(`${JSON.stringify({ time: new Date(this.#now()).toISOString(), level, msg, ...fields })}\n`);
  }
}
