// The laptop's side of one intercept: registered with the Service's router
// over the router's own tunnel, and a few streams parked there for the
// requests it routes here (each joined to a connection to the local port,
// as for `kvpn expose`).
//
//   POST /v1/intercepts + kvpn-intercept-spec ─► 200: registered while this stream is open
//                                               ◄─ {"toLaptop":…,"toPods":…} lines (counters)
//                                               ◄─ {"request":{…}} lines (each request routed for it)
//                                            ─► 409: someone holds it (proxy-status names who)
//   CONNECT 0.0.0.0:port + kvpn-accept + kvpn-intercept: id ─► parked, as inbound.ts
//
// The registration is kept: when it ends (router pod replaced, carriers
// reconnecting) it is made again with backoff, and the router sends the
// intercept's traffic to the workload's pods meanwhile (fail open).
import http2 from 'node:http2';
import {
  HEADER_INTERCEPT,
  HEADER_INTERCEPT_SPEC,
  INTERCEPTS_PATH,
  type InterceptedRequest,
  type InterceptSpec,
  MAX_RECORD_LINE_BYTES,
  parseInterceptedRequest,
} from '../relay/intercept-spec.js';
import { HEADER_PROXY_STATUS, parseProxyStatus } from '../relay/protocol.js';
import type { TunnelDialer } from './dialer.js';
import { InboundForwarder, type InboundStats } from './inbound.js';

const { NGHTTP2_CANCEL } = http2.constants;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;
/** A longer line is skipped whole (to its newline): a record line fits (the router shrinks one that would not). */
const MAX_LINE = MAX_RECORD_LINE_BYTES;

/** What the router reports for this intercept. */
export interface RouterCounters {
  toLaptop: number;
  toPods: number;
  failedOpen: number;
  refused: number;
  /** Request records the router did not send: this end read too slowly. */
  requestsDropped: number;
}

const COUNTER_NAMES = ['toLaptop', 'toPods', 'failedOpen', 'refused', 'requestsDropped'] as const;

export class InterceptRefusedError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface InterceptLinkOptions {
  localPort: number;
  onLocalError?: (err: NodeJS.ErrnoException) => void;
  /** The registration ended or failed; it is retried. */
  onUnregistered?: (why: string) => void;
  onRegistered?: () => void;
  /** A request the router routed for this intercept, once finished (to here or, failing open, to the pods). */
  onRequest?: (request: InterceptedRequest) => void;
}

export class InterceptLink {
  counters: RouterCounters = { toLaptop: 0, toPods: 0, failedOpen: 0, refused: 0, requestsDropped: 0 };
  registered = false;
  readonly #dialer: TunnelDialer;
  readonly #spec: InterceptSpec;
  readonly #opts: InterceptLinkOptions;
  readonly #abort = new AbortController();
  readonly #forwarder: InboundForwarder;
  #stream: http2.ClientHttp2Stream | undefined;

  constructor(dialer: TunnelDialer, spec: InterceptSpec, options: InterceptLinkOptions) {
    this.#dialer = dialer;
    this.#spec = spec;
    this.#opts = options;
    const extra = { [HEADER_INTERCEPT]: spec.id };
    this.#forwarder = new InboundForwarder(
      {
        accept: (port, signal, onParked) => dialer.accept(port, signal, onParked, extra),
        acceptUdp: () => Promise.reject(new Error('intercepts carry TCP only')),
      },
      {
        port: spec.port,
        localPort: options.localPort,
        ...(options.onLocalError ? { onLocalError: (err) => options.onLocalError?.(err) } : {}),
      },
    );
  }

  get connections(): InboundStats {
    return this.#forwarder.stats;
  }

  /** Registers (rejects with InterceptRefusedError if the router refuses), parks, and keeps both up. */
  async start(): Promise<void> {
    await this.#register();
    this.#forwarder.start();
    await this.#forwarder.listening;
    void this.#keep();
  }

  /** Ends the registration (the router forgets the intercept at once) and every connection. */
  close(): void {
    this.#abort.abort(new Error('intercept ended'));
    if (this.#stream && !this.#stream.closed) this.#stream.close(NGHTTP2_CANCEL);
    this.#forwarder.close();
  }

  async #register(): Promise<void> {
    const signal = this.#abort.signal;
    const { stream, headers } = await this.#dialer.hold(
      {
        ':method': 'POST',
        ':path': INTERCEPTS_PATH,
        // Nobody here reads request records (no inspection page): the router need not make them.
        [HEADER_INTERCEPT_SPEC]: JSON.stringify(this.#opts.onRequest ? this.#spec : { ...this.#spec, records: false }),
      },
      signal,
    );
    const status = Number(headers[':status']);
    if (status !== 200) {
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
      const ps = parseProxyStatus(headers[HEADER_PROXY_STATUS] as string | undefined);
      throw new InterceptRefusedError(status, ps?.details ?? ps?.error ?? `the router answered ${status}`);
    }
    this.#stream = stream;
    this.registered = true;
    this.#opts.onRegistered?.();
    stream.setEncoding('utf8');
    stream.on(
      'data',
      lineSplitter(MAX_LINE, (line) => this.#routerOnLine(line)),
    );
  }

  #routerOnLine(line: string): void {
    const read = readRouterLine(line);
    if (read?.counters) this.counters = { ...this.counters, ...read.counters };
    else if (read) this.#opts.onRequest?.(read.request);
  }

  /** Registers again whenever the registration stream ends, until close(). */
  async #keep(): Promise<void> {
    const signal = this.#abort.signal;
    let delay = RETRY_MIN_MS;
    while (!signal.aborted) {
      const stream = this.#stream;
      if (stream && !stream.closed) await new Promise((resolve) => stream.once('close', resolve));
      if (signal.aborted) return;
      this.registered = false;
      this.#opts.onUnregistered?.('the router connection ended');
      for (;;) {
        await sleep(delay * (0.5 + Math.random() / 2), signal);
        if (signal.aborted) return;
        try {
          await this.#register();
          delay = RETRY_MIN_MS;
          break;
        } catch (err) {
          this.#opts.onUnregistered?.((err as Error).message);
          delay = Math.min(delay * 2, RETRY_MAX_MS);
        }
      }
    }
  }
}

type RouterLine = { request: InterceptedRequest; counters?: undefined } | { counters: Partial<RouterCounters> };

/** A registration line: a request record or counters; undefined for anything malformed (they are for display). */
export function readRouterLine(line: string): RouterLine | undefined {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const o = json as Record<string, unknown>;
  if ('request' in o) {
    const request = parseInterceptedRequest(o.request);
    return request ? { request } : undefined;
  }
  const counters: Partial<RouterCounters> = {};
  for (const name of COUNTER_NAMES) {
    const v = o[name];
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) counters[name] = v;
  }
  return { counters };
}

/** ndjson pieces in, whole lines out; a line longer than `max` is dropped to its end, not cut. */
export function lineSplitter(max: number, onLine: (line: string) => void): (chunk: string) => void {
  let buffered = '';
  let skipping = false;
  return (chunk) => {
    buffered += chunk;
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (skipping) skipping = false;
      else if (line.length <= max) onLine(line);
      nl = buffered.indexOf('\n');
    }
    if (buffered.length > max) {
      buffered = '';
      skipping = true;
    }
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
