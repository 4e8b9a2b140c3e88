// The file server's logs: one JSON object per line on stderr (stdout stays
// silent), so `kubectl logs` of the ephemeral container shows them.
export type LogFields = Record<string, string | number | boolean | undefined>;

export class FilesLog {
  readonly #write: (line: string) => void;
  readonly #now: () => number;

  constructor(write: (line: string) => void, now: () => number = Date.now) {
    this.#write = write;
    this.#now = now;
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

  #log(level: string, msg: string, fields: LogFields | undefined): void {
    this.#write(`${JSON.stringify({ time: new Date(this.#now()).toISOString(), level, msg, ...fields })}\n`);
  }
}
