// The tunnel end to end over local sockets: TunnelDialer ─ carrier ─ RelayServer ─ targets on 127.0.0.1.
// The carrier is HTTP/2 here; dialer-mux.test.ts runs the same file over the mux (KVPN_TEST_CARRIER=mux).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import type { KvpnError } from '../../src/errors.js';
import { KubeClient } from '../../src/kube/client.js';
import { STREAM_WINDOW_BYTES } from '../../src/relay/protocol.js';
import { DialError, type DialRequest } from '../../src/tun/stack/dialer.js';
import { TunnelDialer, type TunnelStateChange } from '../../src/tunnel/dialer.js';
import { type TunnelConnection, TunnelResetError } from '../../src/tunnel/tcp-connection.js';
import { startLocalRelay } from '../relay/helpers/local-relay.js';
import { blackholeScript } from './helpers/blackhole.js';
import { startFakePortForward } from './helpers/fake-port-forward.js';

const CARRIER = process.env.KVPN_TEST_CARRIER === 'mux' ? 'mux' : 'h2';

function request(address: string, port: number, signal = new AbortController().signal): DialRequest {
  return { family: 4, destination: { address, port }, source: { address: '10.0.0.1', port: 40000 }, signal };
}

async function tcpServer(t: Test, onConnection: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

async function dialer(
  t: Test,
  opts: Partial<ConstructorParameters<typeof TunnelDialer>[0]> & { relay?: Parameters<typeof startLocalRelay>[1] } = {},
) {
  const relay = await startLocalRelay(t, opts.relay);
  const d = new TunnelDialer({
    transport: relay.transport,
    carriers: 2,
    carrier: CARRIER,
    ...opts,
  } as ConstructorParameters<typeof TunnelDialer>[0]);
  t.teardown(() => d.destroy());
  await d.ready(5000);
  return { relay, d };
}

/** Resolves when every carrier is up. */
function allUp(d: TunnelDialer): Promise<void> {
  if (d.state === 'up') return Promise.resolve();
  return new Promise((resolve) => {
    const off = d.onStateChange((c) => {
      if (c.state === 'up') {
        off();
        resolve();
      }
    });
  });
}

function readAll(s: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

t.test('bytes both ways; our FIN reaches the target, which can still answer', async (t) => {
  const port = await tcpServer(t, (s) => {
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    s.on('end', () => {
      // Half-closed by the client: answer with a digest of everything, then FIN.
      s.end(createHash('sha256').update(Buffer.concat(got)).digest());
    });
  });
  const { d } = await dialer(t);
  const t0 = performance.now();
  const conn = (await d.dialTcp(request('127.0.0.1', port))) as TunnelConnection;
  const dialMs = performance.now() - t0;
  t.equal(conn.peer, `127.0.0.1:${port}`, 'the relay names the peer it reached');
  t.ok(
    conn.relayDialMs !== undefined && conn.relayDialMs >= 0 && conn.relayDialMs <= dialMs,
    `the relay reports its own dial (${conn.relayDialMs} ms of ${dialMs.toFixed(3)})`,
  );
  const payload = randomBytes(5 * 1024 * 1024);
  const reply = readAll(conn);
  const closed = once(conn, 'close');
  conn.end(payload);
  t.equal(
    (await reply).toString('hex'),
    createHash('sha256').update(payload).digest('hex'),
    'target got every byte, then answered after our FIN',
  );
  await closed;
  t.equal(d.stats.tcpStreamsOpen, 0);
  t.equal(d.stats.bytesSent, payload.length);
  t.equal(d.stats.bytesReceived, 32);
});

t.test('what the target sends arrives byte-exact, whether it trickles or floods', async (t) => {
  // The relay reads targets into large buffers it hands on, and copies small
  // reads out so the large buffer is reused: both paths, in one transfer.
  const payload = randomBytes(6 * 1024 * 1024);
  const port = await tcpServer(t, (s) => {
    let at = 0;
    const trickle = (): void => {
      // 200 small writes per turn for the first MiB: the relay sees small reads…
      for (let i = 0; i < 200 && at < 1024 * 1024; i++) {
        s.write(payload.subarray(at, at + 1000 + i));
        at += 1000 + i;
      }
      if (at < 1024 * 1024) setImmediate(trickle);
      else s.end(payload.subarray(at)); // …then the rest at once: large reads.
    };
    trickle();
  });
  const { d } = await dialer(t);
  const conn = await d.dialTcp(request('127.0.0.1', port));
  conn.end();
  const got = await readAll(conn);
  t.equal(got.length, payload.length, 'every byte');
  t.equal(
    createHash('sha256').update(got).digest('hex'),
    createHash('sha256').update(payload).digest('hex'),
    'in order',
  );
});

t.test('the target FINs first; we keep sending until we end', async (t) => {
  let received = '';
  const done = new Promise<void>((resolve) => {
    void tcpServer(t, (s) => {
      s.end('hello\n');
      s.setEncoding('utf8');
      s.on('data', (c: string) => {
        received += c;
      });
      s.on('end', resolve);
    }).then((p) => ports.push(p));
  });
  const ports: number[] = [];
  while (ports.length === 0) await new Promise((r) => setImmediate(r));
  const { d } = await dialer(t);
  const conn = await d.dialTcp(request('127.0.0.1', ports[0] as number));
  const greeting = await readAll(conn);
  t.equal(greeting.toString(), 'hello\n', 'END_STREAM from the relay ends our reader');
  conn.end('still here');
  await done;
  t.equal(received, 'still here', 'writes after the target half-closed still arrive');
});

t.test('a reply read only after the stream closed is delivered whole, then ends', async (t) => {
  // Broke once: the HTTP/2 stream closing destroyed the connection before its
  // reader had drained the buffered reply and its end (ERR_STREAM_PREMATURE_CLOSE).
  const port = await tcpServer(t, (s) => s.pipe(s));
  const { d } = await dialer(t);
  const conn = await d.dialTcp(request('127.0.0.1', port));
  conn.end('read me later\n');
  // Nobody reads until both directions have finished and the stream is gone.
  while (d.carrierLoads().reduce((a, b) => a + b, 0) > 0) await new Promise((r) => setImmediate(r));
  t.equal(conn.destroyed, false, 'not destroyed while its reply is unread');
  const chunks: Buffer[] = [];
  for await (const c of conn) chunks.push(c as Buffer);
  t.equal(Buffer.concat(chunks).toString(), 'read me later\n', 'the whole reply, then end');
  if (!conn.destroyed) await once(conn, 'close');
  t.pass('closed after the reader finished');
});

t.test('a reset by the target resets our stream; our reset resets the target', async (t) => {
  const targetErrors: string[] = [];
  let targetClosed!: () => void;
  const closed = new Promise<void>((r) => {
    targetClosed = r;
  });
  let first = true;
  const port = await tcpServer(t, (s) => {
    if (first) {
      first = false;
      s.once('data', () => s.resetAndDestroy());
      return;
    }
    s.on('error', (e: NodeJS.ErrnoException) => targetErrors.push(e.code ?? e.message));
    s.on('close', targetClosed);
    s.write('ready');
  });
  const { d } = await dialer(t);
  const a = await d.dialTcp(request('127.0.0.1', port));
  a.write('x');
  const [err] = (await once(a, 'error')) as [TunnelResetError];
  t.type(err, TunnelResetError);
  t.match(err.message, /reset by the target/);
  const b = await d.dialTcp(request('127.0.0.1', port));
  await once(b, 'data');
  b.on('error', () => {});
  b.destroy(new Error('app reset'));
  await closed;
  t.same(targetErrors, ['ECONNRESET'], 'the target saw a reset, not a FIN');
});

t.test('dial results: refused, DNS failure and timeout are told apart', async (t) => {
  const closedPort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const hole = spawn(process.execPath, ['-e', blackholeScript('127.0.0.1', 0)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => hole.kill('SIGKILL'));
  const [line] = (await once(hole.stdout, 'data')) as [Buffer];
  const blackhole = Number(/ready (\d+)/.exec(line.toString())?.[1]);

  const { d } = await dialer(t, { connectTimeoutMs: 300 });
  const refused = (await d.dialTcp(request('127.0.0.1', closedPort)).catch((e) => e)) as DialError;
  t.type(refused, DialError);
  t.equal(refused.reason, 'refused');
  t.match(refused.message, /connection_refused/);
  const nxdomain = (await d.connect('no-such-host.invalid', 80).catch((e) => e)) as DialError;
  t.equal(nxdomain.reason, 'unreachable', 'DNS failure: unreachable');
  t.match(nxdomain.message, /dns_error/);
  const started = Date.now();
  const timeout = (await d.dialTcp(request('127.0.0.1', blackhole)).catch((e) => e)) as DialError;
  t.equal(timeout.reason, 'timeout');
  t.match(timeout.message, /connection_timeout/);
  t.ok(Date.now() - started >= 250, 'after the requested connect timeout');
  t.same(d.stats.dialErrors, { refused: 1, unreachable: 1, timeout: 1, error: 0 });
});

t.test('a stream without the token is refused with 407', async (t) => {
  const relay = await startLocalRelay(t);
  const conn = http2.connect(`http://127.0.0.1:${relay.port}`);
  t.teardown(() => conn.destroy());
  for (const auth of [undefined, 'Bearer wrong', `Bearer ${relay.token}x`]) {
    const headers: http2.OutgoingHttpHeaders = { ':method': 'CONNECT', ':authority': '127.0.0.1:1' };
    if (auth) headers['proxy-authorization'] = auth;
    const stream = conn.request(headers);
    const [h] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    t.equal(h[':status'], 407, `token ${auth ?? '(none)'} refused`);
    t.match(h['proxy-status'], /error=http_request_denied/);
  }
  t.equal(relay.server.counters.authFailures, 3);
  t.equal(relay.server.counters.tcpFlowsTotal, 0, 'nothing was dialed');
});

t.test('a UDP flow carries datagrams both ways, boundaries kept', async (t) => {
  const echo = dgram.createSocket('udp4');
  echo.on('message', (msg, rinfo) => echo.send(Buffer.concat([Buffer.from('re:'), msg]), rinfo.port, rinfo.address));
  echo.bind(0, '127.0.0.1');
  await once(echo, 'listening');
  t.teardown(() => echo.close());
  const { d } = await dialer(t);
  const flow = await d.openUdp(request('127.0.0.1', echo.address().port));
  const got: string[] = [];
  const all = new Promise<void>((resolve) =>
    flow.onDatagram((dg) => {
      got.push(Buffer.from(dg).toString());
      if (got.length === 3) resolve();
    }),
  );
  t.ok(flow.send(Buffer.from('one')));
  t.ok(flow.send(Buffer.from('')));
  t.ok(flow.send(Buffer.from('three')));
  await all;
  t.same(got.sort(), ['re:', 're:one', 're:three']);
  const closed = new Promise<Error | undefined>((r) => flow.onClose(r));
  flow.close();
  t.equal(await closed, undefined, 'closed without error');
  t.equal(flow.send(Buffer.from('late')), false, 'send after close is dropped');
});

t.test('names resolve with the relay pod resolver', async (t) => {
  const { d } = await dialer(t);
  t.ok((await d.resolve('localhost', { family: 4 })).includes('127.0.0.1'));
  const err = (await d.resolve('no-such-host.invalid').catch((e) => e)) as DialError;
  t.equal(err.reason, 'unreachable');
  t.match(err.message, /dns_error NXDOMAIN/);
});

t.test('streams spread over the carriers', async (t) => {
  const port = await tcpServer(t, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const { relay, d } = await dialer(t, { carriers: 4 });
  await allUp(d);
  const conns = await Promise.all(Array.from({ length: 40 }, () => d.dialTcp(request('127.0.0.1', port))));
  t.equal(relay.server.counters.carriersTotal, 4);
  t.same(d.carrierLoads().sort(), [10, 10, 10, 10], 'least-loaded placement');
  for (const c of conns) c.destroy();
});

t.test('a lost carrier resets its streams at once; carriers come back; new dials work', async (t) => {
  const port = await tcpServer(t, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const { relay, d } = await dialer(t, { carriers: 2, backoffMinMs: 20 });
  await allUp(d);
  const states: TunnelStateChange[] = [];
  d.onStateChange((c) => states.push(c));
  const conns = await Promise.all(Array.from({ length: 6 }, () => d.dialTcp(request('127.0.0.1', port))));
  for (const c of conns) c.write(randomBytes(64 * 1024));
  const errors = Promise.all(conns.map((c) => once(c, 'error').then(([e]) => e as Error)));
  for (const s of relay.sockets) s.destroy();
  const errs = await errors;
  t.ok(
    errs.every((e) => e instanceof TunnelResetError),
    'every open stream saw a reset',
  );
  await allUp(d);
  t.ok(
    states.some((s) => s.state === 'down' || s.state === 'degraded'),
    'went down',
  );
  t.equal(states.at(-1)?.state, 'up', 'and back up');
  const again = await d.dialTcp(request('127.0.0.1', port));
  again.end('ping');
  t.equal((await readAll(again)).toString(), 'ping');
  t.equal(d.stats.carriersLost, 2);
});

t.test('a slow reader keeps memory bounded: the relay stops reading the target', async (t) => {
  const total = 256 * 1024 * 1024;
  let sent = 0;
  const port = await tcpServer(t, (s) => {
    const chunk = Buffer.alloc(256 * 1024, 1);
    const pump = (): void => {
      while (sent < total) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    s.on('error', () => {});
    pump();
  });
  const { relay, d } = await dialer(t, { carriers: 1 });
  const conn = await d.dialTcp(request('127.0.0.1', port));
  // Do not read. Wait until the flow is stuck: nothing moved for 200 ms.
  let last = -1;
  while (relay.server.counters.bytesFromTargets !== last) {
    last = relay.server.counters.bytesFromTargets;
    await new Promise((r) => setTimeout(r, 200));
  }
  const inFlight = relay.server.counters.bytesFromTargets;
  t.ok(
    inFlight < STREAM_WINDOW_BYTES + 4 * 1024 * 1024,
    `relay read ${inFlight} bytes from the target while nobody read (one stream window + buffers)`,
  );
  t.ok(
    sent < STREAM_WINDOW_BYTES + 16 * 1024 * 1024,
    `the target could write only ${sent} bytes (one stream window + kernel buffers)`,
  );
  let received = 0;
  conn.on('data', (c: Buffer) => {
    received += c.length;
  });
  await once(conn, 'end');
  t.equal(received, total, 'everything arrives once the reader reads');
  conn.destroy();
});

t.test('no carrier: a dial waits, then fails with timeout naming why', async (t) => {
  const transport = {
    token: 'x'.repeat(32),
    connect: async (): Promise<Duplex> => {
      throw new Error('API server unreachable (test)');
    },
    describe: () => 'nowhere',
  };
  const d = new TunnelDialer({ transport, carriers: 1, dialTimeoutMs: 300, backoffMinMs: 50, carrier: CARRIER });
  t.teardown(() => d.destroy());
  const states: string[] = [];
  d.onStateChange((c) => states.push(`${c.state}: ${c.error?.message ?? ''}`));
  const err = (await d.dialTcp(request('10.96.0.1', 443)).catch((e) => e)) as DialError;
  t.equal(err.reason, 'timeout');
  t.match(err.message, /no tunnel connection became available in time \(API server unreachable \(test\)\)/);
  t.ok(states.includes('connecting: API server unreachable (test)'), 'the state change carries the cause');
  const aborted = new AbortController();
  const pending = d.dialTcp({ ...request('10.96.0.1', 443), signal: aborted.signal }).catch((e) => e);
  aborted.abort(new DialError('error', 'app gave up'));
  t.match(((await pending) as Error).message, /app gave up/, 'the caller signal ends the wait');
  d.close();
  t.equal(d.state, 'closed');
  const closed = (await d.dialTcp(request('10.96.0.1', 443)).catch((e) => e)) as DialError;
  t.match(closed.message, /the tunnel is closed/);
});

t.test('close() lets open streams finish; destroy() resets them', async (t) => {
  const port = await tcpServer(t, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const { d } = await dialer(t, { carriers: 1 });
  const conn = await d.dialTcp(request('127.0.0.1', port));
  d.close();
  const reply = readAll(conn);
  conn.end('still flows after close()');
  t.equal((await reply).toString(), 'still flows after close()');
  const { d: d2 } = await dialer(t, { carriers: 1 });
  const conn2 = await d2.dialTcp(request('127.0.0.1', port));
  const failed = once(conn2, 'error');
  d2.destroy();
  const [err] = (await failed) as [Error];
  t.type(err, TunnelResetError);
});

t.test('over port-forward WebSockets: bytes flow; a 403 fails ready() at once, naming the verb', async (t) => {
  const relay = await startLocalRelay(t);
  const api = await startFakePortForward({ pods: ['kvpn-relay-x'] });
  t.teardown(() => api.close());
  const client = KubeClient.load({ kubeconfig: api.kubeconfig });
  t.teardown(() => client.close());
  const endpoint = { namespace: 'ns1', podName: 'kvpn-relay-x', port: relay.port, token: relay.token };
  const port = await tcpServer(t, (s) => s.pipe(s));
  const d = new TunnelDialer({ client, relay: endpoint, carriers: 2, carrier: CARRIER });
  t.teardown(() => d.destroy());
  await d.ready(5000);
  const conn = await d.dialTcp(request('127.0.0.1', port));
  const reply = readAll(conn);
  conn.end('through a WebSocket');
  t.equal((await reply).toString(), 'through a WebSocket');
  t.equal(api.opened, 2, 'one port-forward per carrier');

  api.forbid = true;
  const denied = new TunnelDialer({ client, relay: endpoint, carriers: 1, carrier: CARRIER });
  t.teardown(() => denied.destroy());
  const started = Date.now();
  const err = (await denied.ready(20_000).catch((e) => e)) as KvpnError;
  t.ok(Date.now() - started < 5000, 'without waiting for the timeout');
  t.equal(err.code, 'KVPN_ERR_RELAY_FORBIDDEN');
  t.match(err.message, /missing RBAC verb "create" on "pods\/portforward"/);
});
