// The laptop's side of an intercept (InterceptLink over a TunnelDialer) with
// an in-process router: registered, served on the local port, refused when
// someone holds the port, registered again after the router drops it, and
// still served after the local server closed an idle keep-alive connection;
// the requests the router routed for it are reported (onRequest).
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { filterFromFlags, type InterceptedRequest } from '../../src/relay/intercept-spec.js';
import { TunnelDialer } from '../../src/tunnel/dialer.js';
import { InterceptLink } from '../../src/tunnel/intercept-link.js';
import { httpSide, type LocalRouter, portOf, startRouter } from '../relay/helpers/local-router.js';

function dialerTo(t: Test, router: LocalRouter): { dialer: TunnelDialer; sockets: Set<net.Socket> } {
  const sockets = new Set<net.Socket>();
  const dialer = new TunnelDialer({
    transport: {
      token: router.token,
      async connect(): Promise<Duplex> {
        const socket = net.connect(router.port, '127.0.0.1');
        await once(socket, 'connect');
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        return socket;
      },
      describe: () => `router 127.0.0.1:${router.port}`,
    },
    carriers: 1,
    backoffMinMs: 10,
    backoffMaxMs: 50,
  });
  t.teardown(() => dialer.destroy());
  return { dialer, sockets };
}

/** GET / on the router's port with these headers over `agent`: the side's answer. */
async function get(port: number, headers: Record<string, string>, agent?: http.Agent): Promise<string> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get({ host: '127.0.0.1', port, path: '/', headers, ...(agent ? { agent } : {}) }, resolve).on('error', reject),
  );
  res.setEncoding('utf8');
  let body = '';
  for await (const chunk of res) body += chunk;
  return body.split(' ')[0] as string;
}

t.test('a personal intercept served by the local port; the rest to the pods', async (t) => {
  const pods = await httpSide(t, 'pods');
  const laptop = await httpSide(t, 'laptop');
  // An idle keep-alive connection is closed by the local server soon (Node's default is 5 s).
  laptop.keepAliveTimeout = 50;
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`]);
  const port = router.routePorts[0] as number;
  const { dialer, sockets } = dialerTo(t, router);
  const spec = { id: 'alice-web', port, owner: 'alice@laptop', filter: filterFromFlags({ headers: ['x-dev=alice'] }) };
  let registered: () => void = () => {};
  const link = new InterceptLink(dialer, spec, { localPort: portOf(laptop), onRegistered: () => registered() });
  t.teardown(() => link.close());
  await link.start();
  t.ok(link.registered, 'registered');

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const local = new Promise<net.Socket>((resolve) => laptop.once('connection', resolve));
  t.same(
    [
      await get(port, { 'x-dev': 'alice' }, agent),
      await get(port, {}, agent),
      await get(port, { 'x-dev': 'bob' }, agent),
    ],
    ['laptop', 'pods', 'pods'],
    'one keep-alive connection, each request to its side',
  );
  // The local server closes the idle connection the router keeps: the next request must still arrive.
  await once(await local, 'close');
  t.equal(await get(port, { 'x-dev': 'alice' }, agent), 'laptop', 'after the local server closed an idle connection');

  const bob = new InterceptLink(dialer, { ...spec, id: 'bob-web', owner: 'bob@laptop' }, { localPort: portOf(laptop) });
  await t.rejects(
    bob.start(),
    { status: 409, message: /intercepted for x-dev=alice by alice@laptop/ },
    'the same filter from someone else: refused, naming who holds it',
  );
  bob.close();

  // The router loses the laptop (its carrier cut): its requests go to the pods, and the link registers again.
  const again = new Promise<void>((resolve) => {
    registered = resolve;
  });
  for (const s of sockets) s.destroy();
  await again;
  t.ok(link.registered, 'registered again');
  t.equal(await get(port, { 'x-dev': 'alice' }), 'laptop', 'served here again');
  t.ok(link.counters.toLaptop >= 1, 'the router reports what it sent here');
});

t.test('the router reports each request it routed for the intercept: onRequest', async (t) => {
  const pods = await httpSide(t, 'pods');
  const laptop = await httpSide(t, 'laptop');
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`]);
  const port = router.routePorts[0] as number;
  const { dialer } = dialerTo(t, router);
  const spec = { id: 'alice-web', port, owner: 'alice@laptop', filter: filterFromFlags({ headers: ['x-dev=alice'] }) };
  const requests: InterceptedRequest[] = [];
  let reported: () => void = () => {};
  const link = new InterceptLink(dialer, spec, {
    localPort: portOf(laptop),
    onRequest: (r) => {
      requests.push(r);
      reported();
    },
  });
  t.teardown(() => link.close());
  await link.start();
  const two = new Promise<void>((resolve) => {
    reported = () => requests.length === 2 && resolve();
  });
  t.equal(await get(port, { 'x-dev': 'alice' }), 'laptop');
  t.equal(await get(port, { 'x-dev': 'bob' }), 'pods');
  const res = await fetch(`http://127.0.0.1:${port}/form`, {
    method: 'POST',
    headers: { 'x-dev': 'alice' },
    body: 'a=1',
  });
  t.equal(res.status, 200);
  await res.text();
  await two;
  t.match(requests, [
    { seq: 1, method: 'GET', path: '/', to: 'laptop', status: 200, filter: 'x-dev=alice', bodyBytes: 0 },
    { seq: 2, method: 'POST', path: '/form', to: 'laptop', status: 200, body: 'YT0x', bodyBytes: 3 },
  ]);
  t.equal(link.counters.requestsDropped, 0);
});
