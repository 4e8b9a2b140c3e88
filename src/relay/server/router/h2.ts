// HTTP/2 cleartext (prior knowledge, e.g. gRPC) on a port with personal
// intercepts, routed per stream: an http2 server takes the client's
// connection; each stream goes to the laptop of the first intercept whose
// filter matches (:path and headers), else to the pods, as a stream on an
// upstream session: one to the pods per port (recreated when it ends), one
// per intercept over a parked stream.
//
//   client stream ─► match ─► pods session   ─► upstream (decoy Service)
//                          └─► laptop session ─► parked stream ─► laptop
//
// Headers, bodies (both ways, flow-controlled by pipe), response trailers
// (gRPC's status) and resets are forwarded. A stream an intercept matched is
// captured and reported to its laptop when it closes (request-record.ts).
import http2 from 'node:http2';
import type net from 'node:net';
import type { FailedOpenWhy } from '../../intercept-spec.js';
import type { Registration } from './intercept-table.js';
import { h2Pairs, type RequestCapture } from './request-record.js';
import { peerOf, type RouteRuntime } from './route.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_FLAG_END_STREAM, NGHTTP2_CANCEL } = http2.constants;

/** Connection-specific fields (RFC 9113 §8.2.2) that an HTTP/2 message must not carry. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** A session to the laptop, or why the stream goes to the pods instead. */
type Session = { session: http2.ClientHttp2Session } | { session: undefined; why: FailedOpenWhy };

/** One intercept's session to its laptop, over a parked stream; replaced when it ends. */
class LaptopSession {
  #session: http2.ClientHttp2Session | undefined;
  #pending: Promise<Session> | undefined;

  constructor(
    readonly route: RouteRuntime,
    readonly reg: Registration,
  ) {}

  /** The live session, or a new one over a parked stream; none: none came in time (counted, to the pods). */
  get(peer: string): Promise<Session> {
    const s = this.#session;
    if (s && !s.closed && !s.destroyed) return Promise.resolve({ session: s });
    this.#pending ??= this.route
      .openLaptop(this.reg, peer)
      .then((opened): Session => {
        const stream = opened.stream;
        if (!stream) return { session: undefined, why: opened.why };
        stream.on('error', () => {});
        const session = http2.connect('http://laptop', { createConnection: () => stream });
        session.on('error', () => {});
        session.on('close', () => {
          if (this.#session === session) this.#session = undefined;
        });
        this.#session = session;
        return { session };
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }

  destroy(): void {
    // Streams in flight finish; the parked stream under it ends with the session.
    this.#session?.close();
    this.#session = undefined;
  }
}

export class H2Front {
  readonly #route: RouteRuntime;
  readonly #server: http2.Http2Server;
  #pods: http2.ClientHttp2Session | undefined;
  readonly #sessions = new Set<http2.ServerHttp2Session>();

  constructor(route: RouteRuntime) {
    this.#route = route;
    this.#server = http2.createServer();
    this.#server.on('session', (session) => {
      session.on('error', () => {});
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
    });
    this.#server.on('stream', (stream, headers, flags) => this.#serverOnStream(stream, headers, flags));
  }

  /** Serves a client connection whose preface was read and put back by the sniffer (http2 reads what is buffered). */
  accept(socket: net.Socket): void {
    this.#server.emit('connection', socket);
  }

  destroy(): void {
    this.#pods?.destroy();
    for (const s of this.#sessions) s.destroy();
    this.#server.close();
  }

  #podsSession(): http2.ClientHttp2Session {
    const s = this.#pods;
    if (s && !s.closed && !s.destroyed) return s;
    const { host, port } = this.#route.upstream;
    const session = http2.connect(`http://${host.includes(':') ? `[${host}]` : host}:${port}`);
    session.on('error', () => {});
    session.on('goaway', () => {
      if (this.#pods === session) this.#pods = undefined;
    });
    session.on('close', () => {
      if (this.#pods === session) this.#pods = undefined;
    });
    this.#pods = session;
    return session;
  }

  #serverOnStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number): void {
    stream.on('error', () => {});
    const route = this.#route;
    const reg = route.table.match(route.port, headers[':path'] ?? '/', (name) => headers[name]);
    if (!reg) {
      route.toPods();
      forward(stream, headers, flags, this.#podsSession(), 'the upstream');
      return;
    }
    const capture = reg.capture(
      {
        protocol: 'h2',
        method: headers[':method'] ?? '',
        path: headers[':path'] ?? '',
        authority: headers[':authority'] ?? '',
        headers: h2Pairs(headers),
      },
      Date.now(),
    );
    if (capture) {
      stream.once('close', () => {
        const status = stream.headersSent ? Number(stream.sentHeaders[':status']) : undefined;
        const reset = stream.rstCode === NGHTTP2_NO_ERROR ? undefined : `the stream was reset (code ${stream.rstCode})`;
        capture.finish(Date.now(), Number.isInteger(status) ? status : undefined, reset);
      });
    }
    const laptop = reg.resource('h2', () => new LaptopSession(route, reg));
    void laptop.get(peerOf(stream.session?.socket ?? {})).then((opened) => {
      if (stream.destroyed) return;
      if (!opened.session) {
        capture?.toPods(opened.why);
        return forward(stream, headers, flags, this.#podsSession(), 'the upstream', capture);
      }
      route.toLaptop(reg);
      forward(stream, headers, flags, opened.session, `the laptop of intercept ${reg.id}`, capture);
    });
  }
}

/** One client stream onto `session`: headers, body both ways, response trailers, resets. */
function forward(
  client: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  flags: number,
  session: http2.ClientHttp2Session,
  label: string,
  capture?: RequestCapture,
): void {
  const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
  let up: http2.ClientHttp2Stream;
  try {
    up = session.request(strip(headers), { endStream });
  } catch (err) {
    fail(client, label, (err as Error).message, capture);
    return;
  }
  up.on('error', () => {});
  if (!endStream) {
    client.pipe(up);
    capture?.watch(client);
  }
  let trailers: http2.IncomingHttpHeaders | undefined;
  up.on('trailers', (t) => {
    trailers = t;
  });
  up.on('response', (h, responseFlags) => {
    if (client.destroyed || client.closed) return;
    const out = strip(h);
    // A trailers-only answer (gRPC errors) stays one HEADERS frame with END_STREAM.
    if (responseFlags & NGHTTP2_FLAG_END_STREAM) {
      client.respond(out, { endStream: true });
      return;
    }
    client.respond(out, { waitForTrailers: true });
    client.on('wantTrailers', () => client.sendTrailers(trailers ? strip(trailers) : {}));
    up.pipe(client);
  });
  // Resets cross over, with their code; a client that goes away cancels the upstream stream.
  client.on('close', () => {
    if (!up.closed && !up.destroyed) up.close(client.rstCode === NGHTTP2_NO_ERROR ? NGHTTP2_CANCEL : client.rstCode);
  });
  up.on('close', () => {
    if (client.closed || client.destroyed) return;
    // The far end reset the stream (REFUSED_STREAM lets a gRPC client retry): so does the router.
    // Its session died before answering: the client learns why in a 502.
    const sessionAlive = !session.destroyed && !session.closed;
    if (up.rstCode !== NGHTTP2_NO_ERROR && (client.headersSent || sessionAlive)) {
      capture?.fail(`${label} reset the stream (code ${up.rstCode})`);
      client.close(up.rstCode);
    } else if (!client.headersSent) fail(client, label, `its stream closed (code ${up.rstCode})`, capture);
  });
}

function fail(client: http2.ServerHttp2Stream, label: string, why: string, capture?: RequestCapture): void {
  if (client.destroyed || client.closed || client.headersSent) return;
  capture?.fail(`${label} failed: ${why}`);
  const body = `kvpn router: ${label} failed: ${why}\n`;
  client.respond({ ':status': 502, 'content-type': 'text/plain' });
  client.end(body);
}

/** Headers minus connection-specific ones (TE stays only as "trailers", as RFC 9113 allows). */
function strip(h: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(h)) {
    if (CONNECTION_SPECIFIC.has(name)) continue;
    if (name === 'te' && value !== 'trailers') continue;
    out[name] = value;
  }
  return out;
}
