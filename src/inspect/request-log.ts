// The HTTP requests intercepts routed, as the router reported them on each
// intercept's registration stream: the Intercepts view lists them and can
// replay one against the local process.
import { Ring } from './ring.js';

/** One request as the router reports it (src/relay/intercept-spec.ts, InterceptedRequest). */
export interface RoutedRequest {
  seq: number;
  at: number;
  protocol: string;
  method: string;
  path: string;
  authority: string;
  to: 'laptop' | 'pods';
  why?: string | undefined;
  filter: string;
  headers: [string, string][];
  headersTruncated?: boolean | undefined;
  /** base64 of the body's first bytes. */
  body?: string | undefined;
  bodyBytes: number;
  bodyTruncated?: boolean | undefined;
  status?: number | undefined;
  durationMs?: number | undefined;
  error?: string | undefined;
}

export interface InterceptRef {
  /** Its name in the session (`kvpn leave NAME`). */
  name: string;
  service: string;
  namespace: string;
  localPort: number;
}

export interface ReplayResult {
  at: number;
  status: number | null;
  durationMs: number;
  error: string | null;
  headers: [string, string][];
  /** The response body's first bytes, as text. */
  body: string;
  bodyBytes: number;
}

export interface RequestEntry {
  id: number;
  intercept: InterceptRef;
  request: RoutedRequest;
  replays: ReplayResult[];
}

export interface RequestSummary {
  id: number;
  intercept: string;
  service: string;
  at: number;
  protocol: string;
  method: string;
  path: string;
  filter: string;
  to: 'laptop' | 'pods';
  why: string | null;
  status: number | null;
  durationMs: number | null;
  error: string | null;
  replays: number;
}

export interface RequestPage {
  total: number;
  dropped: number;
  matched: number;
  requests: RequestSummary[];
}

export const REQUEST_LOG_CAPACITY = 1000;
const MAX_REPLAYS_KEPT = 5;

export class RequestLog {
  version = 0;
  readonly #ring: Ring<RequestEntry>;
  #nextId = 1;

  constructor(capacity = REQUEST_LOG_CAPACITY) {
    this.#ring = new Ring(capacity);
  }

  /** The intercepts' observer. */
  readonly record = (intercept: InterceptRef, request: RoutedRequest): void => {
    this.#ring.push({ id: this.#nextId++, intercept: { ...intercept }, request, replays: [] });
    this.version++;
  };

  /** Requests ever recorded. */
  get total(): number {
    return this.#ring.total;
  }

  get(id: number): RequestEntry | undefined {
    return this.#ring.find((entry) => entry.id === id);
  }

  addReplay(entry: RequestEntry, result: ReplayResult): void {
    entry.replays.unshift(result);
    entry.replays.length = Math.min(entry.replays.length, MAX_REPLAYS_KEPT);
    this.version++;
  }

  query(q: { text?: string | undefined; to?: string | undefined; limit?: number | undefined } = {}): RequestPage {
    const limit = Math.min(1000, Math.max(1, Math.floor(q.limit ?? 500)));
    const text = q.text?.trim().toLowerCase() || undefined;
    const requests: RequestSummary[] = [];
    let matched = 0;
    for (const entry of this.#ring.newestFirst()) {
      const r = entry.request;
      if (q.to && r.to !== q.to) continue;
      if (
        text &&
        !`${entry.intercept.name} ${r.method} ${r.path} ${r.status ?? ''} ${r.filter}`.toLowerCase().includes(text)
      )
        continue;
      matched++;
      if (requests.length < limit) requests.push(summary(entry));
    }
    return { total: this.#ring.total, dropped: this.#ring.dropped, matched, requests };
  }
}

function summary(entry: RequestEntry): RequestSummary {
  const r = entry.request;
  return {
    id: entry.id,
    intercept: entry.intercept.name,
    service: `${entry.intercept.service}.${entry.intercept.namespace}`,
    at: r.at,
    protocol: r.protocol,
    method: r.method,
    path: r.path,
    filter: r.filter,
    to: r.to,
    why: r.why ?? null,
    status: r.status ?? null,
    durationMs: r.durationMs ?? null,
    error: r.error ?? null,
    replays: entry.replays.length,
  };
}
