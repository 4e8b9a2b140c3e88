// HTTP/1.x on a port with personal intercepts, routed per request: Node's
// http.Server parses the client's connection (keep-alive and pipelining
// included: responses go back in request order), each request goes to the
// laptop of the first intercept whose filter matches, else to the pods, over
// keep-alive agents: one to the pods per port, one per intercept whose
// connections are parked streams.
//
//   client ─► http.Server ─► match ─► pods agent   ─► upstream (decoy Service)
//                                 └─► laptop agent ─► parked stream ─► laptop
//
// Upgrades (WebSocket) and CONNECT are routed by the same rule, then spliced raw.
// A request an intercept matched is captured and reported to its laptop when
// its response ends (request-record.ts); an upgrade once the answer's status
// line passes, its bytes after that being no request's.
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { FailedOpenWhy } from '../../intercept-spec.js';
import type { Registration } from './intercept-table.js';
import { connectUpstream, joinLaptop, pipeSockets } from './pipe.js';
import { type RequestCapture, type RequestHead, rawPairs } from './request-record.js';
import { peerOf, type RouteRuntime } from './route.js';

/** Hop-by-hop fields (RFC 9110 §7.6.1) the router does not pass on; Node frames bodies itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade']);

/** The laptop had no parked stream in time: the request goes to the pods instead (nothing was sent yet). */
class FailOpen extends Error {
  constructor(readonly why: FailedOpenWhy) {
    super('no parked stream');
  }
}

interface PeerOptions extends http.ClientRequestArgs {
  kvpnPeer: string;
}

/** Keep-alive connections to one intercept's laptop: each a parked stream taken on demand. */
class LaptopAgent extends http.Agent {
  readonly #route: RouteRuntime;
  readonly #reg: Registration;

  constructor(route: RouteRuntime, reg: Registration) {
    super({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 64 });
    this.#route = route;
    this.#reg = reg;
  }

  override createConnection(options: PeerOptions, cb: (err: Error | null, s?: Duplex) => void): undefined {
    this.#route.openLaptop(this.#reg, options.kvpnPeer).then((opened) => {
      const stream = opened.stream;
      if (!stream) return cb(new FailOpen(opened.why));
      stream.on('error', () => {});
      // The laptop's server closed its side (its keep-alive timeout): never hand this stream out again.
      stream.once('end', () => stream.destroy());
      // The agent keeps sockets with TCP keepalive and ref/unref, which a stream has not: no-ops. Its
      // idle limit for a kept stream (the server's Keep-Alive hint less 1 s) is the stream's setTimeout.
      const socketLike = stream as unknown as Record<'setKeepAlive' | 'ref' | 'unref', () => unknown>;
      socketLike.setKeepAlive = socketLike.ref = socketLike.unref = () => stream;
      writeBuffersOnly(stream);
      cb(null, stream);
    }, cb);
    return undefined;
  }

  override keepSocketAlive(socket: Duplex): boolean {
    if (this.#reg.removed || socket.destroyed || socket.readableEnded) return false;
    // Node returns whether the server's hint leaves time to reuse it (typed void in @types/node 20).
    const keep: unknown = super.keepSocketAlive(socket as net.Socket);
    return keep !== false;
  }
}

export class Http1Front {
  readonly #route: RouteRuntime;
  readonly #server: http.Server;
  readonly #pods: http.Agent;

  constructor(route: RouteRuntime) {
    this.#route = route;
    // No request timeout: a long upload is the client's business. Header limits stay Node's defaults.
    this.#server = http.createServer({ requestTimeout: 0, keepAliveTimeout: 60_000 });
    this.#server.on('request', (req, res) => this.#serverOnRequest(req, res));
    this.#server.on('upgrade', (req, socket, head) => this.#serverOnUpgrade(req, socket as net.Socket, head));
    this.#server.on('connect', (req, socket, head) => this.#serverOnUpgrade(req, socket as net.Socket, head));
    this.#pods = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
  }

  /** Serves a client connection whose first bytes were read and put back (`unshift`) by the sniffer. */
  accept(socket: net.Socket): void {
    this.#server.emit('connection', socket);
    // The parser reads the socket's handle directly; what the sniffer put back only comes as 'data' once flowing.
    socket.resume();
  }

  destroy(): void {
    this.#pods.destroy();
    this.#server.close();
  }

  #match(req: http.IncomingMessage): Registration | undefined {
    const route = this.#route;
    return route.table.match(route.port, req.url ?? '/', (name) => req.headersDistinct[name]);
  }

  #serverOnRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.sendDate = false;
    req.on('error', () => {});
    res.on('error', () => {});
    const reg = this.#match(req);
    const capture = reg?.capture(headOf(req), Date.now());
    if (capture) {
      res.once('close', () => {
        const cut = res.writableFinished ? undefined : res.headersSent ? 'the response was cut short' : 'no response';
        capture.finish(Date.now(), res.headersSent ? res.statusCode : undefined, cut);
      });
    }
    this.#forward(req, res, reg, capture);
  }

  /** Sends `req` to the laptop of `reg` (falling back to the pods when it has nothing parked) or to the pods. */
  #forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    reg: Registration | undefined,
    capture: RequestCapture | undefined,
  ): void {
    const route = this.#route;
    const agent = reg ? reg.resource('http1', () => new LaptopAgent(route, reg)) : this.#pods;
    const options: PeerOptions = {
      agent,
      host: route.upstream.host,
      port: route.upstream.port,
      method: req.method,
      path: req.url,
      headers: requestHeaders(req.rawHeaders) as unknown as http.OutgoingHttpHeaders,
      setHost: false,
      kvpnPeer: peerOf(req.socket),
    };
    const out = http.request(options);
    let assigned = false;
    out.on('socket', () => {
      assigned = true;
      if (reg) route.toLaptop(reg);
      else route.toPods();
      req.pipe(out);
      capture?.watch(req);
      // The request has trailers only once read; they go after the body (chunked requests only).
      req.once('end', () => {
        if (req.rawTrailers.length) out.addTrailers(pairs(req.rawTrailers));
      });
    });
    out.on('error', (err) => {
      if (err instanceof FailOpen && !assigned) {
        capture?.toPods(err.why);
        return this.#forward(req, res, undefined, capture);
      }
      const failed = `${reg ? `the laptop of intercept ${reg.id}` : 'the upstream'} failed: ${err.message}`;
      capture?.fail(failed);
      if (!res.headersSent && !res.destroyed) {
        const body = `kvpn router: ${failed}\n`;
        res.writeHead(502, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      } else res.destroy();
    });
    out.on('response', (upRes) => {
      const upResOnCut = (): void => {
        capture?.fail(`the response from ${reg ? `the laptop of intercept ${reg.id}` : 'the upstream'} was cut short`);
        res.destroy();
      };
      upRes.on('error', upResOnCut);
      upRes.on('aborted', upResOnCut);
      res.writeHead(
        upRes.statusCode ?? 502,
        upRes.statusMessage,
        responseHeaders(upRes.rawHeaders) as unknown as http.OutgoingHttpHeaders,
      );
      upRes.pipe(res, { end: false });
      upRes.once('end', () => {
        if (upRes.rawTrailers.length) res.addTrailers(pairs(upRes.rawTrailers));
        res.end();
      });
    });
    // The client went away before its response was complete: so does the request upstream.
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
  }

  #serverOnUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on('error', () => {});
    const reg = this.#match(req);
    let raw = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) raw += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
    const bytes = Buffer.concat([Buffer.from(`${raw}\r\n`, 'latin1'), head]);
    const toPods = (): net.Socket => {
      this.#route.toPods();
      const up = connectUpstream(this.#route.upstream.host, this.#route.upstream.port);
      pipeSockets(socket, up, bytes);
      return up;
    };
    if (!reg) {
      toPods();
      return;
    }
    const capture = reg.capture(headOf(req), Date.now());
    if (capture) socket.once('close', () => capture.finish(Date.now(), undefined, 'closed before an answer'));
    socket.pause();
    void this.#route.openLaptop(reg, peerOf(socket)).then((opened) => {
      const stream = opened.stream;
      if (socket.destroyed) stream?.close();
      else if (!stream) {
        capture?.toPods(opened.why);
        finishOnAnswer(capture, toPods());
      } else {
        this.#route.toLaptop(reg);
        joinLaptop(stream, socket, this.#route.log, this.#route.timing.tcpIdleMs, `upgrade ${reg.id}`, bytes);
        finishOnAnswer(capture, stream);
      }
    });
  }
}

/**
 * Makes `stream` take strings as Buffers. Seen on Node 20.20: when the agent's request head (a
 * latin1 string) and the first body chunk reached an HTTP/2 stream's _writev together, the
 * laptop received the head with its first 16 bytes garbled (its server answered 400). Writes
 * of Buffers only do not take that path.
 */
function writeBuffersOnly(stream: Duplex): void {
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
  const patched = (chunk: unknown, ...rest: unknown[]): boolean => {
    if (typeof chunk !== 'string') return write(chunk, ...rest);
    const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8';
    return write(Buffer.from(chunk, encoding), ...rest);
  };
  (stream as unknown as { write: typeof patched }).write = patched;
}

function headOf(req: http.IncomingMessage): RequestHead {
  return {
    protocol: 'http/1.1',
    method: req.method ?? '',
    path: req.url ?? '',
    authority: req.headers.host ?? '',
    headers: rawPairs(req.rawHeaders),
  };
}

/** An upgrade's record ends with the first bytes of the answer: its status line (101, or a refusal). */
function finishOnAnswer(capture: RequestCapture | undefined, from: NodeJS.EventEmitter): void {
  if (!capture) return;
  // After the splice's own 'data' listener: both see each chunk, nothing is read early.
  from.once('data', (chunk: Buffer) => {
    const status = /^HTTP\/\d\.\d (\d{3})/.exec(chunk.toString('latin1', 0, 16))?.[1];
    capture.finish(Date.now(), status === undefined ? undefined : Number(status));
  });
}

/** Raw request fields minus hop-by-hop ones (and those the Connection field names), order and case kept. */
function requestHeaders(raw: string[]): string[] {
  return filterRaw(raw);
}

function responseHeaders(raw: string[]): string[] {
  return filterRaw(raw);
}

function filterRaw(raw: string[]): string[] {
  const named = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'connection') {
      for (const n of (raw[i + 1] as string).split(',')) named.add(n.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    // "TE: trailers" says the client takes trailers: the far end may then send them (gRPC-web, some APIs).
    if (name === 'te' && (raw[i + 1] as string).trim().toLowerCase() === 'trailers') {
      out.push(raw[i] as string, raw[i + 1] as string);
      continue;
    }
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}
