// The Connections view's log, fed through the RecordingDialer in front of
// real sockets (DirectDialer): a connection's life from dial to close with
// its bytes, a refused port, an unreachable address, UDP, bounds, filters.

import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { buildZone } from '../../src/dns/index.js';
import { ownerOf } from '../../src/dns/inspect.js';
import { FlowLog } from '../../src/inspect/flow-log.js';
import { NameBook } from '../../src/inspect/name-book.js';
import { RecordingDialer } from '../../src/inspect/recording-dialer.js';
import type { Dialer, DialRequest } from '../../src/tun/stack/index.js';
import { shopCluster } from '../dns/fixtures.js';
import { DirectDialer } from '../helpers/direct-dialer.js';

const zone = buildZone({ clusterDomain: 'cluster.local', ...shopCluster() });

function request(address: string, port: number, signal = new AbortController().signal): DialRequest {
  return { family: 4, destination: { address, port }, source: { address: '10.1.0.2', port: 40000 }, signal };
}

async function echoServer(t: Test): Promise<number> {
  const server = net.createServer((socket) => socket.pipe(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function setup(
  map: Map<string, { address: string; port: number }>,
  options: { capacity?: number; maxOpen?: number } = {},
) {
  const names = new NameBook();
  const log = new FlowLog({ names, ownerOf: (ip) => ownerOf(zone, ip), ...options });
  const dialer = new RecordingDialer(new DirectDialer({ map }), log, { skip: (a) => a === '10.1.0.53' });
  return { names, log, dialer };
}

t.test('a connection: dialing, open with live bytes, closed with its totals, its name and owner', async (t) => {
  const port = await echoServer(t);
  const { names, log, dialer } = setup(new Map([['10.96.10.1:80', { address: '127.0.0.1', port: port }]]));
  names.learn('web.shop.svc.cluster.local', ['10.96.10.1']);
  const dialing = dialer.dialTcp(request('10.96.10.1', 80));
  t.match(log.query().flows[0], { state: 'dialing', destination: '10.96.10.1:80' });
  const socket = await dialing;
  socket.write('hello');
  await once(socket, 'data');
  t.match(log.query().flows[0], {
    state: 'open',
    proto: 'tcp',
    name: 'web.shop.svc.cluster.local',
    owner: 'service web.shop',
    namespace: 'shop',
    source: '10.1.0.2:40000',
    bytesToCluster: 5,
    bytesFromCluster: 5,
  });
  socket.end();
  await once(socket, 'close');
  const page = log.query();
  t.match(page, { total: 1, open: 0, dropped: 0, matched: 1 });
  t.match(page.flows[0], { state: 'closed', bytesToCluster: 5, bytesFromCluster: 5, detail: null });
  t.ok((page.flows[0]?.dialMs ?? -1) >= 0);
  t.equal(page.flows[0]?.relayDialMs, null, "a socket has no relay's dial time");
});

t.test("a tunnel connection's relay dial time is kept beside the whole dial's", (t) => {
  const log = new FlowLog({ names: new NameBook(), ownerOf: () => undefined, now: () => 1000 });
  const flow = log.begin('tcp', '10.1.0.2:40000', '10.96.10.2', 80);
  if (!flow) throw new Error('not recorded');
  log.connected(flow, { bytesSent: 0, bytesReceived: 0, relayDialMs: 0.1234 });
  t.match(log.query().flows[0], { state: 'open', dialMs: 0, relayDialMs: 0.123 });
  t.end();
});

t.test('a refused port and an unreachable address are recorded with their reasons', async (t) => {
  const refused = await closedPort();
  const { log, dialer } = setup(new Map([['10.96.10.2:5432', { address: '127.0.0.1', port: refused }]]));
  await t.rejects(dialer.dialTcp(request('10.96.10.2', 5432)), { code: 'KVPN_ERR_DIAL_REFUSED' });
  await t.rejects(dialer.dialTcp(request('10.96.99.99', 80)), { code: 'KVPN_ERR_DIAL_UNREACHABLE' });
  const [unreachable, refusedFlow] = log.query().flows;
  t.match(refusedFlow, { state: 'refused', owner: 'service db.shop', detail: /ECONNREFUSED|refused/ });
  t.match(unreachable, { state: 'unreachable', detail: /no route/ });
  t.equal(log.query({ state: 'failed' }).matched, 2, "'failed' is any failed dial");
  t.equal(log.query({ state: 'refused' }).matched, 1);
  t.equal(log.query({ state: 'active' }).matched, 0);
  t.same(log.query().byState, { unreachable: 1, refused: 1 });
});

t.test('a dial the app gave up on is cancelled, not failed', async (t) => {
  const { log, dialer } = setup(new Map([['10.96.10.1:80', { address: '192.0.2.1', port: 9 }]]));
  const abort = new AbortController();
  const dialing = dialer.dialTcp(request('10.96.10.1', 80, abort.signal));
  abort.abort();
  await t.rejects(dialing);
  t.equal(log.query().flows[0]?.state, 'cancelled');
});

t.test('a connection reset by the tunnel says so, with its words', async (t) => {
  const log = new FlowLog({ names: new NameBook() });
  const connection = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
  const inner: Dialer = { dialTcp: async () => connection, openUdp: () => Promise.reject(new Error('no UDP')) };
  const dialed = await new RecordingDialer(inner, log).dialTcp(request('10.96.10.1', 80));
  dialed.on('error', () => {});
  const closed = new Promise((resolve) => dialed.once('close', resolve));
  dialed.destroy(new Error('connection reset by the target'));
  await closed;
  t.match(log.query().flows[0], { state: 'reset', detail: 'connection reset by the target' });
});

t.test("kvpn's own DNS address is not a connection", async (t) => {
  const port = await echoServer(t);
  const { log, dialer } = setup(new Map([['10.1.0.53:53', { address: '127.0.0.1', port: port }]]));
  const socket = await dialer.dialTcp(request('10.1.0.53', 53));
  socket.destroy();
  t.equal(log.query().total, 0);
});

t.test('UDP flows count datagram bytes both ways', async (t) => {
  const server = dgram.createSocket('udp4');
  server.on('message', (m, r) => server.send(m, r.port, r.address));
  server.bind(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { log, dialer } = setup(new Map([['10.96.10.1:53', { address: '127.0.0.1', port: server.address().port }]]));
  const flow = await dialer.openUdp(request('10.96.10.1', 53));
  const answered = new Promise<Uint8Array>((resolve) => flow.onDatagram(resolve));
  flow.onClose(() => {});
  flow.send(Buffer.from('ping!!'));
  await answered;
  t.match(log.query().flows[0], { proto: 'udp', state: 'open', bytesToCluster: 6, bytesFromCluster: 6 });
  flow.close();
  t.match(log.query().flows[0], { state: 'closed', bytesToCluster: 6, bytesFromCluster: 6 });
  await t.rejects(dialer.openUdp(request('10.96.99.99', 53)), { code: 'KVPN_ERR_DIAL_UNREACHABLE' });
  t.equal(log.query().flows[0]?.state, 'unreachable');
});

t.test('bounds: ended flows in a ring, open ones up to maxOpen, then counted as untracked', async (t) => {
  const port = await echoServer(t);
  const { log, dialer } = setup(new Map([['10.96.10.1:80', { address: '127.0.0.1', port: port }]]), {
    capacity: 3,
    maxOpen: 2,
  });
  const a = await dialer.dialTcp(request('10.96.10.1', 80));
  const b = await dialer.dialTcp(request('10.96.10.1', 80));
  const c = await dialer.dialTcp(request('10.96.10.1', 80));
  t.match(log.query(), { open: 2, untracked: 1 });
  for (const s of [a, b, c]) {
    s.destroy();
    await once(s, 'close');
  }
  for (let i = 0; i < 3; i++) {
    const s = await dialer.dialTcp(request('10.96.10.1', 80));
    s.destroy();
    await once(s, 'close');
  }
  t.match(log.query(), { total: 5, open: 0, dropped: 2, untracked: 1, matched: 3 });
});

t.test('filters: text, namespace, limit; the namespaces seen', async (t) => {
  const refused = await closedPort();
  const { names, log, dialer } = setup(
    new Map([
      ['10.96.10.1:80', { address: '127.0.0.1', port: refused }],
      ['10.96.0.10:53', { address: '127.0.0.1', port: refused }],
    ]),
  );
  names.learn('web.shop.svc.cluster.local', ['10.96.10.1']);
  await t.rejects(dialer.dialTcp(request('10.96.10.1', 80)));
  await t.rejects(dialer.dialTcp(request('10.96.0.10', 53)));
  await t.rejects(dialer.dialTcp(request('10.96.10.1', 80)));
  t.equal(log.query({ text: 'WEB.shop' }).matched, 2, 'text matches the name, any case');
  t.equal(log.query({ text: '10.96.0.10:53' }).matched, 1, 'and the destination');
  t.equal(log.query({ namespace: 'kube-system' }).matched, 1);
  t.same(log.query().namespaces, ['kube-system', 'shop']);
  t.same(log.query({ namespace: 'shop' }).namespaces, ['kube-system', 'shop'], 'all of them, whatever the filter');
  const limited = log.query({ limit: 1 });
  t.equal(limited.flows.length, 1);
  t.equal(limited.matched, 3);
});
