// The control protocol between the CLI and a session daemon: one JSON object
// per line over a unix socket, requests with an id, one response per id.
//   → {"id":1,"method":"status"}
//   ← {"id":1,"result":{…}}        or  {"id":1,"error":{"code":"KVPN_ERR_…","message":"…"}}
// Lines are bounded; a peer that sends garbage is answered once and dropped.

export const CONTROL_MAX_LINE_BYTES = 1024 * 1024;

export type ControlMethod = 'hello' | 'status' | 'shutdown' | 'expose' | 'intercept' | 'leave' | 'mount' | 'unmount';

export interface ControlRequest {
  id: number;
  method: ControlMethod;
  params?: Record<string, unknown>;
}

export interface ControlErrorBody {
  code: string;
  message: string;
  category?: string;
  remedy?: string;
}

export interface ControlResponse {
  id: number;
  result?: unknown;
  error?: ControlErrorBody;
}

/** Splits a byte stream into lines, refusing lines longer than the bound. */
export class LineSplitter {
  #pending = '';
  readonly #maxBytes: number;

  constructor(maxBytes = CONTROL_MAX_LINE_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Returns the complete lines in `chunk`; undefined when the bound was exceeded. */
  push(chunk: string): string[] | undefined {
    this.#pending += chunk;
    const lines = this.#pending.split('\n');
    this.#pending = lines.pop() ?? '';
    if (this.#pending.length > this.#maxBytes) return undefined;
    return lines.filter((l) => l.trim().length > 0);
  }
}

export function parseRequest(line: string): ControlRequest | undefined {
  try {
    const value = JSON.parse(line) as Partial<ControlRequest>;
    if (typeof value.id !== 'number' || typeof value.method !== 'string') return undefined;
    return value as ControlRequest;
  } catch {
    return undefined;
  }
}

export function parseResponse(line: string): ControlResponse | undefined {
  try {
    const value = JSON.parse(line) as Partial<ControlResponse>;
    if (typeof value.id !== 'number') return undefined;
    return value as ControlResponse;
  } catch {
    return undefined;
  }
}
