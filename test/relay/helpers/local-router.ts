// An in-process router (the relay program in router mode) with its routes on
// port 0, the servers that stand in for a workload's pods and for laptops'
// local apps, and a "laptop": an HTTP/2 client that registers intercepts and
// parks streams, joining each taken stream to a local TCP server as kvpn's
// daemon does. For test/relay/router-*.test.ts.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { RouterRoute } from '../../../src/relay/environment.js';
import type { InterceptSpec } from '../../../src/relay/intercept-spec.js';
import { type RelayConfig, relayConfigFromEnv } from '../../../src/relay/server/config.js';
import { RelayLog } from '../../../src/relay/server/log.js';
import { RelayServer } from '../../../src/relay/server/server.js';

type Teardown = { teardown(fn: () => unknown): void };

export interface LocalRouter {
  server: RelayServer;
  /** The laptop-facing port (127.0.0.1). */
  port: number;
  /** Bound route ports, in route order. */
  routePorts: number[];
  token: string;
  logs: Record<string, unknown>[];
}

export async function startRouter(
  t: Teardown,
  upstreams: string[],
  overrides: Partial<RelayConfig> = {},
): Promise<LocalRouter> {
  const token = randomBytes(16).toString('hex');
  const routes: RouterRoute[] = upstreams.map((upstream) => ({ port: 0, upstream }));
  const base = relayConfigFromEnv({
    KVPN_RELAY_TOKEN: token,
    KVPN_RELAY_MODE: 'router',
    KVPN_ROUTER_ROUTES: JSON.stringify(upstreams.map((upstream, i) => ({ port: 1000 + i, upstream }))),
  });
  if ('errors' in base) throw new Error(base.errors.join('; '));
  const logs: Record<string, unknown>[] = [];
  const log = new RelayLog('debug', (line) => logs.push(JSON.parse(line)));
  const server = new RelayServer(
    {
      ...base,
      routes,
      port: 0,
      // Generous: a loaded test machine must not drop a live laptop (router-heartbeat tests use small ones).
      routerPingIntervalMs: 100,
      routerPingTimeoutMs: 5000,
      routerWaitMs: 300,
      routerSniffMs: 200,
      routerStatsIntervalMs: 50,
      ...overrides,
    },
    log,
  );
  const { port } = await server.listen();
  t.teardown(() => server.destroy());
  return { server, port, token, logs, routePorts: server.routerPorts() };
}

async function listening<S extends net.Server>(t: Teardown, server: S): Promise<S> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.close();
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
  return server;
}

export function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

/**
 * HTTP/1.1 server answering `<side> <method> <url> <body>`, with `x-side: <side>`,
 * and a trailer `x-sum: <body length>` when the request asks `te: trailers`; `/crash`
 * drops the connection; an upgrade is answered 101 and echoed.
 */
export async function httpSide(t: Teardown, side: string): Promise<http.Server & { requests: number }> {
  const server = http.createServer((req, res) => {
    s.requests++;
    res.sendDate = false;
    if (req.url === '/crash') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const text = `${side} ${req.method} ${req.url} ${body}`;
      if (req.headers.te === 'trailers') {
        res.writeHead(200, { 'x-side': side, trailer: 'x-sum', 'transfer-encoding': 'chunked' });
        res.addTrailers({ 'x-sum': String(body.length) });
        res.end(text);
      } else {
        res.writeHead(200, { 'x-side': side, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }
    });
  }) as http.Server & { requests: number };
  const s = server;
  s.requests = 0;
  server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    s.requests++;
    socket.on('error', () => {});
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade}\r\nConnection: Upgrade\r\nx-side: ${side}\r\n\r\n`,
    );
    if (head.length) socket.write(head);
    socket.pipe(socket);
  });
  return listening(t, server);
}

/** h2c server answering like gRPC: body `<side> <path> <body>`, trailers grpc-status 0 and `grpc-message: <side>`. */
export async function h2Side(t: Teardown, side: string): Promise<http2.Http2Server & { streams: number }> {
  const server = http2.createServer() as http2.Http2Server & { streams: number };
  server.streams = 0;
  server.on('session', (s) => s.on('error', () => {}));
  server.on('stream', (stream, headers) => {
    server.streams++;
    stream.on('error', () => {});
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (headers[':path'] === '/fail') {
        // A trailers-only gRPC error.
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'x-side': side },
          {
            endStream: true,
          },
        );
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-side': side }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': side }));
      stream.end(`${side} ${headers[':path']} ${Buffer.concat(chunks).toString()}`);
    });
  });
  return listening(t, server);
}

/** TCP echo server that counts its connections. */
export async function echoSide(t: Teardown): Promise<net.Server & { connections: number }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    server.connections++;
    s.on('error', () => {});
    s.pipe(s);
  }) as net.Server & { connections: number };
  server.connections = 0;
  return listening(t, server);
}

/** A TCP proxy in front of the router's laptop port whose forwarding can be frozen (a sleeping laptop). */
export async function freezableProxy(t: Teardown, port: number): Promise<{ port: number; freeze(): void }> {
  const pairs: [net.Socket, net.Socket][] = [];
  const server = net.createServer((a) => {
    const b = net.connect(port, '127.0.0.1');
    a.on('error', () => b.destroy());
    b.on('error', () => a.destroy());
    a.pipe(b);
    b.pipe(a);
    pairs.push([a, b]);
  });
  await listening(t, server);
  t.teardown(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
  });
  return {
    port: portOf(server),
    freeze() {
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
  };
}

export interface Parked {
  /** Streams the router answered 200 (with their kvpn-peer). */
  taken: { peer: string }[];
}

/** The laptop end: one HTTP/2 carrier to the router, intercepts registered on it, streams parked. */
export class TestLaptop {
  readonly session: http2.ClientHttp2Session;
  readonly #token: string;

  constructor(t: Teardown, port: number, token: string) {
    this.#token = token;
    this.session = http2.connect(`http://127.0.0.1:${port}`);
    this.session.on('error', () => {});
    t.teardown(() => this.session.destroy());
  }

  get auth(): Record<string, string> {
    return { 'proxy-authorization': `Bearer ${this.#token}` };
  }

  /** POST /v1/intercepts; resolves with the response headers and the open stream. */
  async register(
    spec: InterceptSpec | string,
  ): Promise<{ status: number; headers: http2.IncomingHttpHeaders; stream: http2.ClientHttp2Stream }> {
    const stream = this.session.request(
      {
        ':method': 'POST',
        ':path': '/v1/intercepts',
        'kvpn-intercept-spec': typeof spec === 'string' ? spec : JSON.stringify(spec),
        ...this.auth,
      },
      { endStream: true },
    );
    stream.on('error', () => {});
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    return { status: Number(headers[':status']), headers, stream };
  }

  /** One CONNECT 0.0.0.0:port parked for `id`; resolves with its first answer (102, or a refusal). */
  async parkOnce(
    id: string,
    port: number,
    extra: Record<string, string> = {},
  ): Promise<{ status: number; headers: http2.IncomingHttpHeaders; stream: http2.ClientHttp2Stream }> {
    const stream = this.session.request({
      ':method': 'CONNECT',
      ':authority': `0.0.0.0:${port}`,
      'kvpn-accept': 'tcp',
      'kvpn-intercept': id,
      ...this.auth,
      ...extra,
    });
    stream.on('error', () => {});
    const [headers] = await Promise.race([
      once(stream, 'headers') as Promise<[http2.IncomingHttpHeaders]>,
      once(stream, 'response') as Promise<[http2.IncomingHttpHeaders]>,
    ]);
    return { status: Number(headers[':status']), headers, stream };
  }

  /**
   * Keeps `count` streams parked for `id`, each joined on its 200 to 127.0.0.1:`localPort`
   * (as the daemon does), and parks a new one for each taken.
   */
  async park(id: string, port: number, localPort: number, count = 2): Promise<Parked> {
    const parked: Parked = { taken: [] };
    const one = async (): Promise<void> => {
      const { status, stream } = await this.parkOnce(id, port);
      if (status !== 102) return;
      stream.once('response', (headers) => {
        if (headers[':status'] !== 200) return;
        parked.taken.push({ peer: String(headers['kvpn-peer']) });
        if (!this.session.destroyed) void one();
        const local = net.connect({ port: localPort, host: '127.0.0.1', allowHalfOpen: true });
        local.on('error', () => stream.close(http2.constants.NGHTTP2_CONNECT_ERROR));
        stream.on('close', () => local.destroy());
        stream.pipe(local);
        local.pipe(stream);
      });
    };
    await Promise.all(Array.from({ length: count }, one));
    return parked;
  }
}

/**
 * A router on one port with alice's and bob's personal intercepts (`x-dev: alice` / `bob`),
 * each laptop serving its own app; `side` makes the apps and the pods (httpSide, h2Side).
 */
export async function aliceAndBob<S extends net.Server>(
  t: Teardown,
  side: (t: Teardown, name: string) => Promise<S>,
  overrides: Partial<RelayConfig> = {},
) {
  const pods = await side(t, 'pods');
  const aliceApp = await side(t, 'alice');
  const bobApp = await side(t, 'bob');
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`], overrides);
  const [port] = router.routePorts as [number];
  const alice = new TestLaptop(t, router.port, router.token);
  const bob = new TestLaptop(t, router.port, router.token);
  const dev = (name: string) => ({ headers: [{ name: 'x-dev', value: name }], headerRegexes: [] });
  const a = await alice.register({ id: 'alice', port, owner: 'alice@l1', filter: dev('alice') });
  const b = await bob.register({ id: 'bob', port, owner: 'bob@l2', filter: dev('bob') });
  if (a.status !== 200 || b.status !== 200) throw new Error(`registrations answered ${a.status}, ${b.status}`);
  await alice.park('alice', port, portOf(aliceApp), 2);
  await bob.park('bob', port, portOf(bobApp), 2);
  return { pods, aliceApp, bobApp, router, port, alice, bob, registrations: { a, b } };
}

/** Resolves when `check()` holds, polling on each turn of the event loop (state changes there, not at a time). */
export async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

/** Whether a log line has every field of `fields`. */
export function logged(logs: Record<string, unknown>[], fields: Record<string, unknown>): boolean {
  return logs.some((l) => Object.entries(fields).every(([k, v]) => l[k] === v));
}
