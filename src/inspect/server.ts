// The inspection page's HTTP server, on 127.0.0.1 only: the page and its
// assets from the package, JSON for each view, a Server-Sent Events stream
// saying which view changed (at most 4 times a second), and replay.
// Every request passes the guard (guard.ts) first.
//
//   GET  /?token=SECRET         → cookie, 303 to /
//   GET  / /app.js /app.css     → the page
//   GET  /api/overview|connections|dns|requests[/ID]   → JSON
//   GET  /api/events            → text/event-stream: {"flows":v,"dns":v,"requests":v,"status":t}
//   POST /api/requests/ID/replay → the local process's answer
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KvpnError } from '../errors.js';
import type { DnsLog } from './dns-log.js';
import { FLOW_STATES, type FlowLog } from './flow-log.js';
import { Guard } from './guard.js';
import { ReplayError, replay } from './replay.js';
import type { RequestEntry, RequestLog } from './request-log.js';

export const DEFAULT_UI_PORT = 4040;
const PORT_TRIES = 20;
const TICK_MS = 250;
const STATUS_EVERY_MS = 2000;
const MAX_EVENT_CLIENTS = 16;
const MAX_BODY_SHOWN = 16 * 1024;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

export interface InspectSources {
  /** What `kvpn status --json` says now. */
  status(): unknown;
  flows: FlowLog;
  dns: DnsLog;
  requests: RequestLog;
  /** A workload's container environment (`kvpn env`), computed with the session's credentials. */
  environment?: ((query: { workload: string; container?: string | undefined }) => Promise<unknown>) | undefined;
}

export interface InspectServerOptions {
  /** First port tried; the next ones up to 20 further if taken; 0: any. */
  port?: number | undefined;
  sources: InspectSources;
  /** Default: 32 random bytes. */
  secret?: string | undefined;
  onError?: ((err: Error) => void) | undefined;
}

export class InspectPortError extends KvpnError {
  constructor(first: number, cause: unknown) {
    super(
      'KVPN_ERR_UI_PORT',
      'user',
      `no free port for the inspection page from ${first} to ${first + PORT_TRIES - 1}`,
      {
        cause,
        remedy: 'Pass --ui-port with a free port, or --no-ui.',
      },
    );
  }
}

export class InspectServer {
  readonly port: number;
  /** The address to open: carries the secret once (then a cookie does). */
  readonly url: string;
  readonly #server: http.Server;
  readonly #guard: Guard;
  readonly #sources: InspectSources;
  readonly #assets: Map<string, { body: Buffer; type: string }>;
  readonly #clients = new Set<http.ServerResponse>();
  readonly #timer: NodeJS.Timeout;
  readonly #onError: (err: Error) => void;
  #lastSent = '';
  #lastStatusAt = 0;

  private constructor(server: http.Server, port: number, secret: string, options: InspectServerOptions) {
    this.#server = server;
    this.port = port;
    this.url = `http://127.0.0.1:${port}/?token=${secret}`;
    this.#guard = new Guard(port, secret);
    this.#sources = options.sources;
    this.#onError = options.onError ?? (() => {});
    this.#assets = loadAssets();
    server.on('request', (req, res) => this.#handle(req, res));
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  static async listen(options: InspectServerOptions): Promise<InspectServer> {
    const secret = options.secret ?? randomBytes(32).toString('base64url');
    const first = options.port ?? DEFAULT_UI_PORT;
    let lastError: unknown;
    for (let port = first; port < first + (first === 0 ? 1 : PORT_TRIES); port++) {
      const server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000 });
      server.maxConnections = 64;
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        lastError = err;
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw new InspectPortError(first, err);
      }
      server.on('error', (err) => options.onError?.(err));
      return new InspectServer(server, (server.address() as AddressInfo).port, secret, options);
    }
    throw new InspectPortError(first, lastError);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const client of this.#clients) client.destroy();
    this.#clients.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const decision = this.#guard.check({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      host: req.headers.host,
      origin: req.headers.origin,
      cookie: req.headers.cookie,
      fetchSite: header(req.headers['sec-fetch-site']),
    });
    if (decision.kind === 'deny') {
      this.#text(res, decision.status, decision.why);
      return;
    }
    if (decision.kind === 'login') {
      res.writeHead(303, { ...SECURITY_HEADERS, 'set-cookie': decision.setCookie, location: decision.location });
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    try {
      this.#route(req, res, url);
    } catch (err) {
      this.#onError(err as Error);
      if (!res.headersSent) this.#text(res, 500, 'internal error');
    }
  }

  #route(req: http.IncomingMessage, res: http.ServerResponse, url: URL): undefined {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const q = (name: string): string | undefined => url.searchParams.get(name) ?? undefined;
    const limit = Number(q('limit')) || undefined;
    const asset = this.#assets.get(path);
    if (method === 'GET' && asset) {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type });
      res.end(asset.body);
      return;
    }
    const replayMatch = /^\/api\/requests\/(\d+)\/replay$/.exec(path);
    if (method === 'POST' && replayMatch) {
      void this.#replay(res, Number(replayMatch[1])).catch((err: Error) => {
        this.#onError(err);
        if (!res.headersSent) this.#text(res, 500, 'internal error');
      });
      return;
    }
    if (method !== 'GET') return this.#text(res, 405, 'method not allowed');
    const s = this.#sources;
    const detailMatch = /^\/api\/requests\/(\d+)$/.exec(path);
    if (detailMatch) {
      const entry = s.requests.get(Number(detailMatch[1]));
      return entry ? this.#json(res, 200, requestDetail(entry)) : this.#text(res, 404, 'no such request (pushed out?)');
    }
    switch (path) {
      case '/api/overview':
        return this.#json(res, 200, {
          status: s.status(),
          recorded: {
            flows: { total: s.flows.total, open: s.flows.openCount },
            dns: s.dns.total,
            requests: s.requests.total,
          },
        });
      case '/api/connections':
        return this.#json(res, 200, {
          ...s.flows.query({ text: q('text'), state: q('state'), namespace: q('namespace'), limit }),
          states: FLOW_STATES,
        });
      case '/api/dns':
        return this.#json(res, 200, s.dns.query({ text: q('text'), rcode: q('rcode'), limit }));
      case '/api/requests':
        return this.#json(res, 200, s.requests.query({ text: q('text'), to: q('to'), limit }));
      case '/api/events':
        return this.#events(res);
      case '/api/environment':
        void this.#environment(res, q('workload'), q('container'));
        return;
      default:
        return this.#text(res, 404, 'not found');
    }
  }

  async #replay(res: http.ServerResponse, id: number): Promise<void> {
    const entry = this.#sources.requests.get(id);
    if (!entry) {
      this.#text(res, 404, 'no such request (pushed out?)');
      return;
    }
    try {
      const result = await replay(entry);
      this.#sources.requests.addReplay(entry, result);
      this.#json(res, 200, result);
    } catch (err) {
      if (err instanceof ReplayError) this.#text(res, 409, err.message);
      else throw err;
    }
  }

  async #environment(
    res: http.ServerResponse,
    workload: string | undefined,
    container: string | undefined,
  ): Promise<void> {
    const environment = this.#sources.environment;
    if (!environment) return this.#text(res, 404, 'no environment here');
    if (!workload) return this.#text(res, 400, 'name a workload: ?workload=deploy/NAME');
    try {
      this.#json(res, 200, await environment({ workload, container }));
    } catch (err) {
      // The API's or kvpn's own words (unknown workload, RBAC): the user's to read.
      const e = err as Error & { code?: string };
      this.#json(res, 422, { error: e.message, code: e.code ?? null });
    }
  }

  #events(res: http.ServerResponse): undefined {
    if (this.#clients.size >= MAX_EVENT_CLIENTS) return this.#text(res, 503, 'too many open pages');
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream' });
    res.write(`retry: 2000\ndata: ${this.#versions()}\n\n`);
    this.#clients.add(res);
    res.on('close', () => this.#clients.delete(res));
  }

  #versions(): string {
    const s = this.#sources;
    return JSON.stringify({
      flows: s.flows.version,
      dns: s.dns.version,
      requests: s.requests.version,
      status: this.#lastStatusAt,
    });
  }

  /** Tells every open page what changed; a page that does not keep up skips ticks (never buffered). */
  #tick(): void {
    if (this.#clients.size === 0) return;
    const now = Date.now();
    if (now - this.#lastStatusAt >= STATUS_EVERY_MS) this.#lastStatusAt = now;
    const versions = this.#versions();
    if (versions === this.#lastSent) return;
    this.#lastSent = versions;
    for (const client of this.#clients) if (client.writableNeedDrain === false) client.write(`data: ${versions}\n\n`);
  }

  #json(res: http.ServerResponse, status: number, body: unknown): undefined {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  #text(res: http.ServerResponse, status: number, text: string): undefined {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
    res.end(`${text}\n`);
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function loadAssets(): Map<string, { body: Buffer; type: string }> {
  const out = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { file, type }] of Object.entries(ASSETS))
    out.set(path, { body: readFileSync(new URL(`./assets/${file}`, import.meta.url)), type });
  return out;
}

/** C0 controls other than tab, newline and carriage return: not text to show. */
function isControl(ch: string): boolean {
  const code = ch.charCodeAt(0);
  return code < 0x20 && ch !== '\t' && ch !== '\n' && ch !== '\r';
}

/** A request with its headers and body as text (bodies that are not UTF-8 are shown as base64). */
function requestDetail(entry: RequestEntry): unknown {
  const r = entry.request;
  const body = r.body ? Buffer.from(r.body, 'base64') : Buffer.alloc(0);
  const text = body.toString('utf8');
  const printable = !text.includes('\uFFFD') && ![...text].some(isControl);
  return {
    id: entry.id,
    intercept: entry.intercept,
    request: { ...r, body: undefined },
    body: printable ? text.slice(0, MAX_BODY_SHOWN) : body.toString('base64'),
    bodyEncoding: printable ? 'text' : 'base64',
    replays: entry.replays,
  };
}
