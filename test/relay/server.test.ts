// The relay on its own: configuration, limits, idle exit, request checks, logs.
import dgram from 'node:dgram';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import t, { type Test } from 'tap';
import { relayConfigFromEnv } from '../../src/relay/server/config.js';
import { RelayLog } from '../../src/relay/server/log.js';
import { RelayServer } from '../../src/relay/server/server.js';
import { startLocalRelay } from './helpers/local-relay.js';

function h2(t: Test, port: number): http2.ClientHttp2Session {
  const conn = http2.connect(`http://127.0.0.1:${port}`);
  conn.on('error', () => {});
  t.teardown(() => conn.destroy());
  return conn;
}

async function status(stream: http2.ClientHttp2Stream): Promise<http2.IncomingHttpHeaders> {
  stream.on('error', () => {});
  const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  return headers;
}

t.test('configuration from the environment: defaults, and every problem at once', async (t) => {
  const ok = relayConfigFromEnv({ KVPN_RELAY_TOKEN: 'x'.repeat(16) });
  t.match(ok, { host: '127.0.0.1', port: 17071, idleExitMs: 600_000, connectTimeoutMs: 30_000, logLevel: 'info' });
  const bad = relayConfigFromEnv({
    KVPN_RELAY_PORT: '70000',
    KVPN_RELAY_IDLE_EXIT_MS: 'soon',
    KVPN_RELAY_LOG_LEVEL: 'loud',
  });
  t.same((bad as { errors: string[] }).errors.sort(), [
    'KVPN_RELAY_IDLE_EXIT_MS=soon is not an integer in [0, 604800000]',
    'KVPN_RELAY_LOG_LEVEL=loud is not a level',
    'KVPN_RELAY_PORT=70000 is not an integer in [1, 65535]',
    'KVPN_RELAY_TOKEN must be set (at least 16 characters)',
  ]);
});

t.test('requests the relay does not serve get a status and a proxy-status, nothing is dialed', async (t) => {
  const relay = await startLocalRelay(t);
  const conn = h2(t, relay.port);
  const auth = { 'proxy-authorization': `Bearer ${relay.token}` };
  const cases: [http2.OutgoingHttpHeaders, number, RegExp][] = [
    [{ ':method': 'POST', ':path': '/x' }, 405, /method POST not supported/],
    [{ ':method': 'GET', ':path': '/nope' }, 404, /no such path/],
    [{ ':method': 'CONNECT', ':authority': 'host-without-port' }, 400, /bad authority/],
    [{ ':method': 'CONNECT', ':authority': '127.0.0.1:1', 'kvpn-transport': 'sctp' }, 400, /unknown transport sctp/],
  ];
  for (const [headers, code, detail] of cases) {
    const h = await status(conn.request({ ...headers, ...auth }));
    t.equal(h[':status'], code, `${headers[':method']} → ${code}`);
    t.match(h['proxy-status'], detail);
  }
  t.equal(relay.server.counters.tcpFlowsTotal, 0);
});

t.test('flows beyond the limit are refused with 503 connection_limit_reached', async (t) => {
  const target = net.createServer((s) => s.on('error', () => {}));
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  t.teardown(() => target.close());
  const relay = await startLocalRelay(t, { maxStreams: 2 });
  const conn = h2(t, relay.port);
  const connect = () =>
    conn.request({
      ':method': 'CONNECT',
      ':authority': `127.0.0.1:${(target.address() as net.AddressInfo).port}`,
      'proxy-authorization': `Bearer ${relay.token}`,
    });
  const a = connect();
  const b = connect();
  t.equal((await status(a))[':status'], 200);
  t.equal((await status(b))[':status'], 200);
  const c = await status(connect());
  t.equal(c[':status'], 503);
  t.match(c['proxy-status'], /error=connection_limit_reached/);
  const closed = new Promise((r) => a.on('close', r));
  a.close(http2.constants.NGHTTP2_CONNECT_ERROR);
  await closed;
  while (relay.server.counters.flowsOpen > 1) await new Promise((r) => setImmediate(r));
  t.equal((await status(connect()))[':status'], 200, 'a freed slot is usable again');
  t.equal(relay.server.counters.limitRefusals, 1);
});

t.test('an idle UDP flow is closed by the relay', async (t) => {
  const echo = dgram.createSocket('udp4');
  echo.bind(0, '127.0.0.1');
  await once(echo, 'listening');
  t.teardown(() => echo.close());
  const relay = await startLocalRelay(t, { udpIdleMs: 150 });
  const conn = h2(t, relay.port);
  const stream = conn.request({
    ':method': 'CONNECT',
    ':authority': `127.0.0.1:${echo.address().port}`,
    'kvpn-transport': 'udp/1',
    'proxy-authorization': `Bearer ${relay.token}`,
  });
  t.equal((await status(stream))[':status'], 200);
  stream.resume();
  const started = Date.now();
  await once(stream, 'end');
  t.ok(Date.now() - started >= 100, 'after the idle period, END_STREAM from the relay');
  stream.end();
  await once(stream, 'close');
  t.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'a clean close');
  while (relay.server.counters.flowsOpen > 0) await new Promise((r) => setImmediate(r));
  t.pass('the flow slot was released');
});

t.test('with no client for idleExitMs the relay says so once; a client in between defers it', async (t) => {
  const base = relayConfigFromEnv({ KVPN_RELAY_TOKEN: 'y'.repeat(16) });
  if ('errors' in base) throw new Error('config');
  const lines: string[] = [];
  let idle = 0;
  const server = new RelayServer(
    { ...base, port: 0, idleExitMs: 200 },
    new RelayLog('info', (l) => lines.push(l)),
    () => idle++,
  );
  t.teardown(() => server.destroy());
  const { port } = await server.listen();
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(idle, 0, 'not while a client is connected');
  client.destroy();
  const started = Date.now();
  while (idle === 0) await new Promise((r) => setTimeout(r, 20));
  t.ok(Date.now() - started >= 180, 'idleExitMs after the last client left');
  const logged = lines.map((l) => JSON.parse(l) as { level: string; msg: string; time: string });
  t.match(logged.at(-1), { level: 'info', msg: 'no client for a while; exiting' });
  t.ok(
    logged.every((l) => !Number.isNaN(Date.parse(l.time))),
    'every line is JSON with a timestamp',
  );
});

t.test('a client that does not speak HTTP/2 is dropped; the relay keeps serving', async (t) => {
  const relay = await startLocalRelay(t);
  const junk = net.connect(relay.port, '127.0.0.1');
  junk.on('error', () => {});
  junk.resume();
  junk.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(junk, 'close');
  const conn = h2(t, relay.port);
  const h = await status(
    conn.request({ ':method': 'GET', ':path': '/v1/info', 'proxy-authorization': `Bearer ${relay.token}` }),
  );
  t.equal(h[':status'], 200, 'the next client is served');
});

t.test('when the connection to the client drops, the targets are reset', async (t) => {
  // Regression: a carrier closed without an error code (the port-forward's TCP
  // connection ending cleanly) left its streams' target sockets open.
  let seen!: (how: string) => void;
  const targetClosed = new Promise<string>((resolve) => {
    seen = resolve;
  });
  const target = net.createServer((s) => {
    s.on('error', (e: NodeJS.ErrnoException) => seen(e.code ?? e.message));
    s.on('close', () => seen('closed without a reset'));
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  t.teardown(() => target.close());
  const relay = await startLocalRelay(t);
  const conn = h2(t, relay.port);
  const stream = conn.request({
    ':method': 'CONNECT',
    ':authority': `127.0.0.1:${(target.address() as net.AddressInfo).port}`,
    'proxy-authorization': `Bearer ${relay.token}`,
  });
  t.equal((await status(stream))[':status'], 200);
  // As when the kubelet closes the port-forward connection: FIN on the relay's side.
  relay.server.destroy();
  t.equal(await targetClosed, 'ECONNRESET', 'the target saw a reset');
});

t.test('END_STREAM then RST_STREAM at once (Node close(code)): the target socket is closed, not leaked', async (t) => {
  // Regression: with our FIN still in progress, socket.resetAndDestroy() fails with EINVAL
  // and Node never closes the handle; the fd leaked and the event loop spun on it.
  const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
  let targetEnded!: () => void;
  const ended = new Promise<void>((r) => {
    targetEnded = r;
  });
  const accepted: net.Socket[] = [];
  const target = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted.push(s);
    s.on('error', () => {});
    s.on('end', targetEnded);
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  t.teardown(() => target.close());
  const relay = await startLocalRelay(t);
  const conn = h2(t, relay.port);
  await status(conn.request({ ':method': 'GET', ':path': '/v1/info', 'proxy-authorization': `Bearer ${relay.token}` }));
  const baseline = sockets();
  const stream = conn.request({
    ':method': 'CONNECT',
    ':authority': `127.0.0.1:${(target.address() as net.AddressInfo).port}`,
    'proxy-authorization': `Bearer ${relay.token}`,
  });
  t.equal((await status(stream))[':status'], 200);
  const closed = new Promise((r) => stream.on('close', r));
  stream.close(http2.constants.NGHTTP2_CONNECT_ERROR);
  await closed;
  await ended;
  while (relay.server.counters.flowsOpen > 0) await new Promise((r) => setImmediate(r));
  // The target's own end of the connection lives in this process too.
  for (const s of accepted) s.destroy();
  for (let i = 0; i < 50 && sockets() > baseline; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(sockets(), baseline, 'no TCP handle left behind by the flow');
});
