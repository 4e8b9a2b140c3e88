// The router's raw paths: a port without intercepts goes to the pods
// untouched; a whole intercept carries bytes both ways through a parked
// stream and fails open; on a personal port, what is not HTTP goes to the pods.
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import t from 'tap';
import { echoSide, logged, portOf, startRouter, TestLaptop, until } from './helpers/local-router.js';

/** Connects, writes `data`, half-closes, and resolves with everything read until the router's FIN. */
async function roundTrip(port: number, data: Buffer): Promise<Buffer> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.end(data);
  await once(socket, 'end');
  socket.destroy();
  return Buffer.concat(chunks);
}

t.test('no intercept: the pods, raw; a whole intercept: the laptop, raw; then the pods again', async (t) => {
  const pods = await echoSide(t);
  const mine = await echoSide(t);
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`]);
  const [port] = router.routePorts as [number];

  t.same(await roundTrip(port, Buffer.from('hello pods')), Buffer.from('hello pods'), 'no intercept: echoed');
  t.equal(pods.connections, 1, 'by the pods');

  const laptop = new TestLaptop(t, router.port, router.token);
  const reg = await laptop.register({ id: 'w1', port, owner: 'alice@l1' });
  t.equal(reg.status, 200);
  const parked = await laptop.park('w1', port, portOf(mine), 2);
  // 8 MiB each way, byte-exact, through the parked stream (backpressure both ways on the way).
  const big = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
  const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(client, 'connect');
  const localPort = client.localPort;
  const back = roundTripOn(client, big);
  t.ok((await back).equals(big), '8 MiB echoed byte-exact by the laptop');
  t.equal(mine.connections, 1, 'the laptop took the connection');
  t.equal(pods.connections, 1, 'the pods saw nothing more');
  t.equal(parked.taken[0]?.peer, `127.0.0.1:${localPort}`, 'kvpn-peer names the cluster client');

  // The laptop ends the intercept: new connections go to the pods again.
  const closed = once(reg.stream, 'close');
  reg.stream.close(http2.constants.NGHTTP2_CANCEL);
  await closed;
  await until(() => logged(router.logs, { msg: 'intercept removed', id: 'w1', why: 'closed' }));
  t.same(await roundTrip(port, Buffer.from('again')), Buffer.from('again'));
  t.equal(pods.connections, 2, 'fail open: the pods answered');
  t.equal(mine.connections, 1);
});

function roundTripOn(socket: net.Socket, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.end(data);
  return once(socket, 'end').then(() => {
    socket.destroy();
    return Buffer.concat(chunks);
  });
}

t.test('a whole intercept with nothing parked: after waitMs the pods take it (failedOpen)', async (t) => {
  const pods = await echoSide(t);
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`], { routerWaitMs: 50 });
  const [port] = router.routePorts as [number];
  const laptop = new TestLaptop(t, router.port, router.token);
  const reg = await laptop.register({ id: 'w1', port, owner: 'alice@l1' });
  t.equal(reg.status, 200);
  t.same(await roundTrip(port, Buffer.from('anyone?')), Buffer.from('anyone?'));
  t.equal(pods.connections, 1, 'the pods answered');
  reg.stream.setEncoding('utf8');
  const [line] = (await once(reg.stream, 'data')) as [string];
  t.same(
    JSON.parse(line),
    { toLaptop: 0, toPods: 1, failedOpen: 1, refused: 0, requestsDropped: 0 },
    'counted on the registration stream',
  );
  t.ok(logged(router.logs, { msg: 'intercept failing open: traffic goes to the pods', why: 'nothing parked' }));
});

t.test('a port with personal intercepts: TLS bytes and silent clients go to the pods, untouched', async (t) => {
  const pods = await echoSide(t);
  // A server-speaks-first protocol (SMTP, MySQL): the client waits for the banner.
  const banner = net.createServer((s) => {
    s.on('error', () => {});
    s.end('220 pods ready\r\n');
  });
  banner.listen(0, '127.0.0.1');
  await once(banner, 'listening');
  t.teardown(() => banner.close());
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`, `127.0.0.1:${portOf(banner)}`]);
  const [port, bannerPort] = router.routePorts as [number, number];
  const laptop = new TestLaptop(t, router.port, router.token);
  const filter = { headers: [{ name: 'x-dev', value: 'alice' }], headerRegexes: [] };
  t.equal((await laptop.register({ id: 'p1', port, owner: 'a@l', filter })).status, 200);
  t.equal((await laptop.register({ id: 'p2', port: bannerPort, owner: 'a@l', filter })).status, 200);

  const hello = Buffer.from('160301002a010000260303', 'hex'); // the start of a TLS ClientHello
  t.same(await roundTrip(port, hello), hello, 'TLS bytes echoed by the pods');
  t.same(await roundTrip(port, Buffer.from('G')), Buffer.from('G'), 'a FIN before the method is complete: the pods');
  const silent = net.connect(bannerPort, '127.0.0.1');
  silent.setEncoding('utf8');
  const [greeting] = (await once(silent, 'data')) as [string];
  t.equal(greeting, '220 pods ready\r\n', 'a silent client gets the pods banner after sniffMs');
  silent.destroy();
  t.equal(pods.connections, 2);
});
