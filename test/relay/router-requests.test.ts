// What the router reports on a registration stream of each request it routed
// for that intercept ({"request":…} lines, once the request is finished):
// HTTP/1.1 and h2 requests its filter matched, to the laptop or failed open to
// the pods; nothing for requests no intercept matched; records dropped and
// counted while the laptop does not read.
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import t, { type Test } from 'tap';
import { MAX_RECORD_BODY_BYTES } from '../../src/relay/intercept-spec.js';
import { aliceAndBob, h2Side, httpSide, portOf, startRouter, TestLaptop } from './helpers/local-router.js';
import { RegistrationLines } from './helpers/registration-lines.js';

const dev = (name: string) => ({ headers: [{ name: 'x-dev', value: name }], headerRegexes: [] });

/** alice's and bob's personal intercepts (helpers), with their registration streams read. */
async function setup(t: Test, side: typeof httpSide | typeof h2Side) {
  const { port, registrations } = await aliceAndBob<net.Server>(t, side);
  const aliceLines = new RegistrationLines(registrations.a.stream);
  return { port, aliceLines, bobLines: new RegistrationLines(registrations.b.stream) };
}

/** Writes one HTTP/1.1 request on a new connection; resolves with the status line once the response is read. */
async function send1(port: number, head: string, body: Buffer = Buffer.alloc(0)): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    text += d;
    const end = text.indexOf('\r\n\r\n');
    const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
    if (end !== -1 && text.length >= end + 4 + length) socket.end();
  });
  await once(socket, 'close');
  return text.split('\r\n')[0] as string;
}

t.test(
  'HTTP/1.1: one record per matched request, with its head, status and the first 16 KiB of its body',
  async (t) => {
    const { port, aliceLines, bobLines } = await setup(t, httpSide);
    const body = Buffer.alloc(20_000, 'b');
    body.fill('a', 0, MAX_RECORD_BODY_BYTES);
    const before = Date.now();
    const status = await send1(
      port,
      'POST /upload?x=1 HTTP/1.1\r\nHost: web.shop\r\nX-Dev: alice\r\nAuthorization: Bearer s3cret\r\n' +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      body,
    );
    t.equal(status, 'HTTP/1.1 200 OK');
    const rec = await aliceLines.record();
    t.ok(rec.at >= before && rec.at <= Date.now(), 'at: when the head came');
    t.ok(typeof rec.durationMs === 'number' && rec.durationMs >= 0, 'durationMs');
    t.same(
      rec,
      {
        seq: 1,
        at: rec.at,
        protocol: 'http/1.1',
        method: 'POST',
        path: '/upload?x=1',
        authority: 'web.shop',
        to: 'laptop',
        filter: 'x-dev=alice',
        headers: [
          ['host', 'web.shop'],
          ['x-dev', 'alice'],
          ['authorization', 'Bearer s3cret'],
          ['content-length', '20000'],
          ['connection', 'close'],
        ],
        body: Buffer.alloc(MAX_RECORD_BODY_BYTES, 'a').toString('base64'),
        bodyBytes: 20_000,
        bodyTruncated: true,
        status: 200,
        durationMs: rec.durationMs,
      },
      'method, path, headers as received (names lower-case, credentials too), the body cut at 16 KiB',
    );

    // Nobody's and bob's requests are not alice's business; the next of hers is seq 2.
    t.equal(await send1(port, 'GET /other HTTP/1.1\r\nHost: web.shop\r\nX-Dev: carol\r\n\r\n'), 'HTTP/1.1 200 OK');
    t.equal(await send1(port, 'GET /bobs HTTP/1.1\r\nHost: web.shop\r\nX-Dev: bob\r\n\r\n'), 'HTTP/1.1 200 OK');
    await send1(port, 'GET /marker HTTP/1.1\r\nHost: web.shop\r\nX-Dev: alice\r\n\r\n');
    t.match(await aliceLines.record(), { seq: 2, method: 'GET', path: '/marker', status: 200, bodyBytes: 0 });
    t.notOk('body' in (aliceLines.records[1] ?? {}), 'no body: no body field');
    t.equal(aliceLines.records.length, 2, 'exactly one record per request of alice, none for the others');
    t.match(await bobLines.record(), { seq: 1, path: '/bobs', filter: 'x-dev=bob' });
    t.equal(bobLines.records.length, 1, "bob's stream got only bob's request");
  },
);

t.test("HTTP/1.1: the laptop's app drops the connection: status 502 and the error", async (t) => {
  const { port, aliceLines } = await setup(t, httpSide);
  t.equal(await send1(port, 'GET /crash HTTP/1.1\r\nHost: web\r\nX-Dev: alice\r\n\r\n'), 'HTTP/1.1 502 Bad Gateway');
  t.match(await aliceLines.record(), {
    seq: 1,
    path: '/crash',
    to: 'laptop',
    status: 502,
    error: /^the laptop of intercept alice failed: /,
  });
});

t.test('HTTP/1.1: nothing parked: the record says the pods answered, and why', async (t) => {
  const pods = await httpSide(t, 'pods');
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`], { routerWaitMs: 50 });
  const [port] = router.routePorts as [number];
  const laptop = new TestLaptop(t, router.port, router.token);
  const reg = await laptop.register({ id: 'alice', port, owner: 'alice@l1', filter: dev('alice') });
  const lines = new RegistrationLines(reg.stream);
  const res = await fetch(`http://127.0.0.1:${port}/x`, { method: 'PUT', headers: { 'x-dev': 'alice' }, body: 'hi' });
  t.equal(await res.text(), 'pods PUT /x hi');
  t.match(await lines.record(), {
    seq: 1,
    method: 'PUT',
    to: 'pods',
    why: 'failed-open',
    status: 200,
    body: Buffer.from('hi').toString('base64'),
    bodyBytes: 2,
  });
  t.match(await lines.countersWhere((c) => c.failedOpen === 1), { toPods: 1, requestsDropped: 0 });
});

t.test('HTTP/1.1 upgrade: reported once answered, with its status and no body', async (t) => {
  const { port, aliceLines } = await setup(t, httpSide);
  const req = http.request({
    port,
    host: '127.0.0.1',
    path: '/ws',
    headers: { connection: 'Upgrade', upgrade: 'websocket', 'x-dev': 'alice' },
  });
  req.end();
  const [, socket] = (await once(req, 'upgrade')) as [http.IncomingMessage, net.Socket];
  t.teardown(() => socket.destroy());
  t.match(await aliceLines.record(), { seq: 1, method: 'GET', path: '/ws', to: 'laptop', status: 101, bodyBytes: 0 });
  t.notOk('body' in (aliceLines.records[0] ?? {}));
});

t.test('h2: one record per matched stream, pseudo-headers in their fields; none for the others', async (t) => {
  const { port, aliceLines } = await setup(t, h2Side);
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const call = async (path: string, who: string | undefined, body: string): Promise<void> => {
    const stream = client.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(who ? { 'x-dev': who } : {}),
    });
    stream.resume();
    stream.end(body);
    await once(stream, 'close');
  };
  await call('/svc.Echo/Call', 'alice', 'hello');
  const rec = await aliceLines.record();
  t.same(rec, {
    seq: 1,
    at: rec.at,
    protocol: 'h2',
    method: 'POST',
    path: '/svc.Echo/Call',
    authority: `127.0.0.1:${port}`,
    to: 'laptop',
    filter: 'x-dev=alice',
    headers: [
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ['x-dev', 'alice'],
    ],
    body: Buffer.from('hello').toString('base64'),
    bodyBytes: 5,
    status: 200,
    durationMs: rec.durationMs,
  });
  await call('/svc.Echo/Pods', undefined, 'x');
  await call('/svc.Echo/Bob', 'bob', 'x');
  await call('/svc.Echo/Marker', 'alice', '');
  t.match(await aliceLines.record(), { seq: 2, path: '/svc.Echo/Marker', bodyBytes: 0 });
  t.equal(aliceLines.records.length, 2, 'exactly one record per matched stream');
});

t.test('h2: nothing parked: to the pods, failed open', async (t) => {
  const pods = await h2Side(t, 'pods');
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`], { routerWaitMs: 50 });
  const [port] = router.routePorts as [number];
  const laptop = new TestLaptop(t, router.port, router.token);
  const reg = await laptop.register({ id: 'alice', port, owner: 'alice@l1', filter: dev('alice') });
  const lines = new RegistrationLines(reg.stream);
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const stream = client.request({ ':path': '/svc.Echo/Call', 'x-dev': 'alice' }, { endStream: true });
  stream.resume();
  await once(stream, 'close');
  t.match(await lines.record(), { seq: 1, protocol: 'h2', method: 'GET', to: 'pods', why: 'failed-open', status: 200 });
});

t.test('a laptop that does not read its registration stream: records are dropped and counted', async (t) => {
  const pods = await httpSide(t, 'pods');
  const app = await httpSide(t, 'alice');
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`]);
  const [port] = router.routePorts as [number];
  const laptop = new TestLaptop(t, router.port, router.token);
  // Its registration stream is not read: HTTP/2 flow control stops the router's writes there.
  const reg = await laptop.register({ id: 'alice', port, owner: 'alice@l1', filter: dev('alice') });
  await laptop.park('alice', port, portOf(app), 2);
  const sent = 20;
  const body = Buffer.alloc(MAX_RECORD_BODY_BYTES, 'z');
  for (let i = 0; i < sent; i++) {
    const head = `POST /r/${i} HTTP/1.1\r\nHost: web\r\nX-Dev: alice\r\nContent-Length: ${body.length}\r\n\r\n`;
    t.equal(await send1(port, head, body), 'HTTP/1.1 200 OK', `request ${i} served all the same`);
  }
  // Now read: what was written comes, then a counters line with the drops.
  const lines = new RegistrationLines(reg.stream);
  const counters = await lines.countersWhere((c) => (c.requestsDropped ?? 0) > 0 && c.toLaptop === sent);
  const got = lines.records.map((r) => r.seq);
  t.ok(got.length > 0 && got.length < sent, `some records came (${got.length}), not all`);
  t.equal(got.length + (counters.requestsDropped as number), sent, 'every other record was counted as dropped');
  t.same(
    got,
    got.map((_, i) => i + 1),
    'the first ones came, in order',
  );
  // After the drain, records flow again.
  await send1(port, `GET /after HTTP/1.1\r\nHost: web\r\nX-Dev: alice\r\n\r\n`);
  let after = await lines.record();
  while (after.path !== '/after') after = await lines.record();
  t.equal(after.seq, sent + 1, 'the seq counts the dropped records too');
});

t.test('a laptop without an inspection page (records: false): counters only, no records made', async (t) => {
  const laptopSide = await httpSide(t, 'laptop');
  const router = await startRouter(t, [`127.0.0.1:${portOf(await httpSide(t, 'pods'))}`]);
  const [port] = router.routePorts as [number];
  const laptop = new TestLaptop(t, router.port, router.token);
  const reg = await laptop.register({ id: 'alice', port, owner: 'alice@l1', filter: dev('alice'), records: false });
  await laptop.park('alice', port, portOf(laptopSide), 1);
  const lines = new RegistrationLines(reg.stream);
  for (const path of ['/x', '/y']) {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'x-dev': 'alice' } });
    t.equal(await res.text(), `laptop GET ${path} `);
  }
  // The first request's record would have been written when it finished, before the second began.
  t.match(await lines.countersWhere((c) => c.toLaptop === 2), { toLaptop: 2, requestsDropped: 0 });
  t.same(lines.records, [], 'no request line');
});
