// One request the router routed for an intercept, captured while it is in
// flight and reported once it is finished (registration-stream.ts writes
// it): a bounded copy of its head, the first MAX_RECORD_BODY_BYTES of its
// body, where it went and how it ended. No I/O; times come from the caller.
//
//   head matched ─► capture(head, at) ─► body(chunk)… ─► toPods(why)?
//                                     ─► fail(error)? ─► finish(now, status) ─► sink.send(record), once
import {
  type FailedOpenWhy,
  type InterceptedRequest,
  MAX_RECORD_BODY_BYTES,
  MAX_RECORD_HEADER_BYTES,
  MAX_RECORD_HEADER_FIELDS,
  MAX_RECORD_LINE_BYTES,
  MAX_RECORD_PATH_CHARS,
} from '../../intercept-spec.js';

/** Short fields a client or a registration controls: cut so that a record keeps its bound. */
const MAX_METHOD_CHARS = 64;
const MAX_FILTER_CHARS = 1024;
const MAX_ERROR_CHARS = 512;

/** Where finished records go: the registration's stream (registration-stream.ts). */
export interface RequestSink {
  /** The registration's next seq, from 1. */
  nextSeq(): number;
  send(record: InterceptedRequest): void;
}

export interface RequestHead {
  protocol: InterceptedRequest['protocol'];
  method: string;
  path: string;
  authority: string;
  /** Field names lower-case, in the order received; bounded here. */
  headers: [string, string][];
}

export class RequestCapture {
  readonly #sink: RequestSink;
  readonly #record: InterceptedRequest;
  readonly #body: Buffer[] = [];
  #kept = 0;
  #watching = false;
  #finished = false;

  constructor(sink: RequestSink, filter: string, head: RequestHead, at: number) {
    this.#sink = sink;
    const { headers, truncated } = boundHeaders(head.headers);
    this.#record = {
      seq: sink.nextSeq(),
      at,
      protocol: head.protocol,
      method: head.method.slice(0, MAX_METHOD_CHARS),
      path: head.path.slice(0, MAX_RECORD_PATH_CHARS),
      authority: head.authority.slice(0, MAX_RECORD_PATH_CHARS),
      to: 'laptop',
      filter: (filter || 'whole').slice(0, MAX_FILTER_CHARS),
      headers,
      bodyBytes: 0,
    };
    if (truncated) this.#record.headersTruncated = true;
  }

  /** Counts a piece of the request body; keeps what still fits in MAX_RECORD_BODY_BYTES. */
  body(chunk: Buffer): void {
    this.#record.bodyBytes += chunk.length;
    const room = MAX_RECORD_BODY_BYTES - this.#kept;
    if (room <= 0) return;
    const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
    // A copy: the chunk's memory may be a pooled buffer that is reused.
    this.#body.push(Buffer.from(piece));
    this.#kept += piece.length;
  }

  /** Counts the body of `source` from now on (once). */
  watch(source: NodeJS.EventEmitter): void {
    if (this.#watching) return;
    this.#watching = true;
    source.on('data', (chunk: Buffer) => this.body(chunk));
  }

  /** The request went to the pods after all (the laptop had nothing parked, or too many waited). */
  toPods(why: FailedOpenWhy): void {
    this.#record.to = 'pods';
    this.#record.why = why;
  }

  /** What went wrong; the first reason is kept. */
  fail(error: string): void {
    this.#record.error ??= error.slice(0, MAX_ERROR_CHARS);
  }

  /** Reports the record (once): the response ended or the exchange failed. */
  finish(now: number, status: number | undefined, error?: string): void {
    if (this.#finished) return;
    this.#finished = true;
    const r = this.#record;
    if (error !== undefined) this.fail(error);
    if (status !== undefined) r.status = status;
    r.durationMs = Math.max(0, Math.round(now - r.at));
    if (this.#kept) r.body = Buffer.concat(this.#body, this.#kept).toString('base64');
    if (r.bodyBytes > this.#kept) r.bodyTruncated = true;
    this.#body.length = 0;
    this.#sink.send(r);
  }
}

/** At most MAX_RECORD_HEADER_FIELDS fields and MAX_RECORD_HEADER_BYTES; a field too large is left out, not cut. */
export function boundHeaders(all: readonly [string, string][]): { headers: [string, string][]; truncated: boolean } {
  const headers: [string, string][] = [];
  let bytes = 0;
  let truncated = false;
  for (const [name, value] of all) {
    if (headers.length === MAX_RECORD_HEADER_FIELDS) return { headers, truncated: true };
    const size = Buffer.byteLength(name) + Buffer.byteLength(value);
    if (bytes + size > MAX_RECORD_HEADER_BYTES) {
      truncated = true;
      continue;
    }
    bytes += size;
    headers.push([name, value]);
  }
  return { headers, truncated };
}

/**
 * `{"request":…}\n`, below MAX_RECORD_LINE_BYTES: JSON escapes can grow a record past it,
 * so the body goes first, then the headers; undefined if it still does not fit.
 */
export function recordLine(record: InterceptedRequest): string | undefined {
  const line = (r: InterceptedRequest): string | undefined => {
    const text = `${JSON.stringify({ request: r })}\n`;
    return Buffer.byteLength(text) <= MAX_RECORD_LINE_BYTES ? text : undefined;
  };
  const noBody: InterceptedRequest = { ...record, body: undefined, bodyTruncated: record.bodyBytes > 0 || undefined };
  return (
    line(record) ??
    line(noBody) ??
    line({ ...noBody, headers: [], headersTruncated: record.headers.length > 0 || undefined })
  );
}

/** HTTP/1.x raw header pairs as [lower-case name, value]. */
export function rawPairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([(raw[i] as string).toLowerCase(), raw[i + 1] as string]);
  return out;
}

/** HTTP/2 headers as pairs, pseudo-headers left out (the record has method, path and authority). */
export function h2Pairs(headers: Record<string, string | string[] | undefined>): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, v]);
  }
  return out;
}
