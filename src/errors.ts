// Every error kvpn raises on purpose is a KvpnError with a stable `code`
// (KVPN_ERR_*) and a category that tells the user whose move it is.
// docs/errors.md lists every code with its cause and remedy; only src/cli
// turns these into messages and exit codes.

export type ErrorCategory = 'user' | 'config' | 'cluster' | 'system' | 'internal';

export interface KvpnErrorOptions {
  cause?: unknown;
  /** One sentence telling the user how to fix it. */
  remedy?: string;
}

export class KvpnError extends Error {
  readonly code: string;
  readonly category: ErrorCategory;
  readonly remedy: string | undefined;

  constructor(code: `KVPN_ERR_${string}`, category: ErrorCategory, message: string, options: KvpnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KvpnError';
    this.code = code;
    this.category = category;
    this.remedy = options.remedy;
  }
}

/** The errno-style code of an OS error (`EACCES`, `EEXIST`…), if it has one. */
export function systemErrorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
