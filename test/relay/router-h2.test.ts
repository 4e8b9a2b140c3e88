// HTTP/2 cleartext (gRPC-like) on a port with personal intercepts, routed per
// stream: concurrent streams of one client connection reach alice's laptop,
// bob's laptop and the pods, with response trailers forwarded.
import { once } from 'node:events';
import http2 from 'node:http2';
import t from 'tap';
import { h2Side, portOf, startRouter, TestLaptop } from './helpers/local-router.js';

const dev = (name: string) => ({ headers: [{ name: 'x-dev', value: name }], headerRegexes: [] });

interface Answer {
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders | undefined;
}

function call(client: http2.ClientHttp2Session, path: string, who: string | undefined, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = client.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(who ? { 'x-dev': who } : {}),
    });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    let text = '';
    stream.on('error', reject);
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('trailers', (h) => {
      trailers = h;
    });
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      text += d;
    });
    stream.on('end', () => resolve({ headers, body: text, trailers }));
    stream.end(body);
  });
}

t.test('one HTTP/2 connection, concurrent streams: each reaches its side, trailers forwarded', async (t) => {
  const pods = await h2Side(t, 'pods');
  const aliceApp = await h2Side(t, 'alice');
  const bobApp = await h2Side(t, 'bob');
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`]);
  const [port] = router.routePorts as [number];
  const alice = new TestLaptop(t, router.port, router.token);
  const bob = new TestLaptop(t, router.port, router.token);
  t.equal((await alice.register({ id: 'alice', port, owner: 'alice@l1', filter: dev('alice') })).status, 200);
  t.equal((await bob.register({ id: 'bob', port, owner: 'bob@l2', filter: dev('bob') })).status, 200);
  await alice.park('alice', port, portOf(aliceApp), 2);
  await bob.park('bob', port, portOf(bobApp), 2);

  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const who = ['alice', 'bob', undefined, 'carol', 'alice', 'bob', undefined, 'alice'];
  const answers = await Promise.all(who.map((w, i) => call(client, `/svc.Echo/Call${i}`, w, `req${i}`)));
  for (const [i, a] of answers.entries()) {
    const side = who[i] === 'alice' || who[i] === 'bob' ? (who[i] as string) : 'pods';
    t.equal(a.body, `${side} /svc.Echo/Call${i} req${i}`, `stream ${i} (x-dev: ${who[i] ?? 'none'}) → ${side}`);
    t.equal(a.headers['x-side'], side);
    t.match(a.trailers, { 'grpc-status': '0', 'grpc-message': side }, 'trailers forwarded');
  }
  t.equal(aliceApp.streams, 3);
  t.equal(bobApp.streams, 2);
  t.equal(pods.streams, 3);
  // One parked stream carries alice's whole HTTP/2 session.
  t.match(router.server.routerPorts(), [port]);

  // A trailers-only answer (a gRPC error) stays trailers-only.
  const failed = await call(client, '/fail', 'alice', '');
  t.equal(failed.headers['grpc-status'], '5');
  t.equal(failed.headers['x-side'], 'alice');
  t.equal(failed.body, '');
  t.equal(failed.trailers, undefined);
});

t.test("a client's reset reaches the far side; the far side's reset reaches the client", async (t) => {
  const pods = http2.createServer();
  let hangClosed: Promise<number> | undefined;
  pods.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (headers[':path'] === '/reset-me') stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    else {
      hangClosed = once(stream, 'close').then(() => stream.rstCode);
      stream.respond({ ':status': 200 }); // and never ends
    }
  });
  pods.listen(0, '127.0.0.1');
  await once(pods, 'listening');
  t.teardown(() => pods.close());
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`]);
  const [port] = router.routePorts as [number];
  const laptop = new TestLaptop(t, router.port, router.token);
  t.equal((await laptop.register({ id: 'alice', port, owner: 'a@l', filter: dev('alice') })).status, 200);
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  t.teardown(() => client.destroy());

  const refused = client.request({ ':path': '/reset-me' });
  refused.on('error', () => {});
  await new Promise((r) => refused.on('close', r)); // once() would reject on the stream's 'error'
  t.equal(refused.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM, "the pods' reset code reaches the client");

  const hanging = client.request({ ':path': '/hang' });
  hanging.on('error', () => {});
  await once(hanging, 'response');
  hanging.close(http2.constants.NGHTTP2_CANCEL);
  t.equal(await hangClosed, http2.constants.NGHTTP2_CANCEL, "the client's reset reaches the pods");
});
