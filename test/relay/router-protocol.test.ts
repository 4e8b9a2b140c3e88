// The router's laptop-facing protocol: configuration, registrations and
// their conflicts, parking, what a router refuses, /v1/info and the
// registration stream's counters.
import { once } from 'node:events';
import http2 from 'node:http2';
import t from 'tap';
import { parseProxyStatus } from '../../src/relay/protocol.js';
import { relayConfigFromEnv } from '../../src/relay/server/config.js';
import { httpSide, logged, portOf, startRouter, TestLaptop } from './helpers/local-router.js';

const TOKEN = 'z'.repeat(16);

t.test('router configuration: routes required and checked, idle exit off', async (t) => {
  const ok = relayConfigFromEnv({
    KVPN_RELAY_TOKEN: TOKEN,
    KVPN_RELAY_MODE: 'router',
    KVPN_ROUTER_ROUTES: '[{"port":8080,"upstream":"10.96.12.34:80"},{"port":80,"upstream":"[fd00::1]:8080"}]',
  });
  t.match(ok, {
    mode: 'router',
    routes: [
      { port: 8080, upstream: '10.96.12.34:80' },
      { port: 80, upstream: '[fd00::1]:8080' },
    ],
    idleExitMs: 0,
    host: '127.0.0.1',
    port: 17071,
    routerPingIntervalMs: 1000,
    routerPingTimeoutMs: 2000,
    routerWaitMs: 2000,
  });
  t.match(relayConfigFromEnv({ KVPN_RELAY_TOKEN: TOKEN }), { mode: 'relay', routes: [], idleExitMs: 600_000 });
  const errors = (env: Record<string, string>): string[] =>
    (relayConfigFromEnv({ KVPN_RELAY_TOKEN: TOKEN, ...env }) as { errors: string[] }).errors;
  t.same(errors({ KVPN_RELAY_MODE: 'router' }), ['KVPN_ROUTER_ROUTES must be set in router mode']);
  t.same(errors({ KVPN_RELAY_MODE: 'bridge' }), ['KVPN_RELAY_MODE=bridge is not relay or router']);
  t.same(errors({ KVPN_RELAY_MODE: 'router', KVPN_ROUTER_ROUTES: '{' }), ['KVPN_ROUTER_ROUTES is not JSON']);
  t.same(errors({ KVPN_RELAY_MODE: 'router', KVPN_ROUTER_ROUTES: '[]' }), [
    'KVPN_ROUTER_ROUTES must be a list of 1-32 routes',
  ]);
  const many = JSON.stringify(Array.from({ length: 33 }, (_, i) => ({ port: i + 1, upstream: 'a:1' })));
  t.same(errors({ KVPN_RELAY_MODE: 'router', KVPN_ROUTER_ROUTES: many }), [
    'KVPN_ROUTER_ROUTES must be a list of 1-32 routes',
  ]);
  t.same(
    errors({
      KVPN_RELAY_MODE: 'router',
      KVPN_ROUTER_ROUTES: JSON.stringify([
        { port: 0, upstream: 'a:1' },
        { port: 8080, upstream: 'a' },
        { port: 8081, upstream: 'b:2' },
        { port: 8081, upstream: 'c:3' },
        'x',
      ]),
    }),
    [
      'KVPN_ROUTER_ROUTES[0].port must be an integer in [1, 65535]',
      'KVPN_ROUTER_ROUTES[1].upstream must be host:port',
      'KVPN_ROUTER_ROUTES[3].port 8081 appears twice',
      'KVPN_ROUTER_ROUTES[4].port must be an integer in [1, 65535]',
    ],
  );
});

t.test('registrations: 400 for a bad spec, 404 for a port not served, 409 naming the holder', async (t) => {
  const pods = await httpSide(t, 'pods');
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`, `127.0.0.1:${portOf(pods)}`]);
  const [port, other] = router.routePorts as [number, number];
  const alice = new TestLaptop(t, router.port, router.token);
  const bob = new TestLaptop(t, router.port, router.token);
  const details = (h: http2.IncomingHttpHeaders) => parseProxyStatus(String(h['proxy-status']));

  const bad = await alice.register('{"id":"UPPER","port":1,"owner":"x"}');
  t.equal(bad.status, 400, 'bad id → 400');
  t.match(details(bad.headers), { error: 'http_request_error', details: /intercept id/ });
  t.equal((await alice.register('not json')).status, 400, 'not JSON → 400');
  const notServed = await alice.register({ id: 'a1', port: 1, owner: 'alice@l1' });
  t.equal(notServed.status, 404);
  t.match(details(notServed.headers), { details: 'the router does not serve port 1' });

  const whole = await alice.register({ id: 'w1', port, owner: 'alice@l1' });
  t.equal(whole.status, 200, 'a whole intercept');
  t.equal(whole.headers['content-type'], 'application/x-ndjson');
  const second = await bob.register({ id: 'w2', port, owner: 'bob@l2' });
  t.equal(second.status, 409, 'a second whole one → 409');
  t.match(details(second.headers), {
    error: 'http_request_denied',
    details: `port ${port} is intercepted whole by alice@l1 (id w1)`,
  });
  const personal = await bob.register({
    id: 'p2',
    port,
    owner: 'bob@l2',
    filter: { headers: [{ name: 'x-dev', value: 'bob' }], headerRegexes: [] },
  });
  t.equal(personal.status, 409, 'a personal one on a whole port → 409');
  t.match(details(personal.headers), { details: /intercepted whole by alice@l1 \(id w1\)/ });

  const p1 = await alice.register({
    id: 'p1',
    port: other,
    owner: 'alice@l1',
    filter: { headers: [{ name: 'x-dev', value: 'alice' }], headerRegexes: [] },
  });
  t.equal(p1.status, 200);
  const same = await bob.register({
    id: 'p2',
    port: other,
    owner: 'bob@l2',
    filter: { headers: [{ name: 'X-Dev', value: 'alice' }], headerRegexes: [] },
  });
  t.equal(same.status, 409, 'the same filter from another id → 409');
  t.match(details(same.headers), { details: `port ${other} is intercepted for x-dev=alice by alice@l1 (id p1)` });
  const wholeOnPersonal = await bob.register({ id: 'w3', port: other, owner: 'bob@l2' });
  t.equal(wholeOnPersonal.status, 409, 'a whole one on a port with personal ones → 409');
  t.match(details(wholeOnPersonal.headers), { details: /personal intercepts, e.g. x-dev=alice by alice@l1/ });
  const p2 = await bob.register({
    id: 'p2',
    port: other,
    owner: 'bob@l2',
    filter: { headers: [{ name: 'x-dev', value: 'bob' }], headerRegexes: [] },
  });
  t.equal(p2.status, 200, 'another filter on the same port');

  // The laptop reconnected: its old carrier's registration is replaced, not a conflict.
  const oldClosed = once(p1.stream, 'close');
  const again = await bob.register({
    id: 'p1',
    port: other,
    owner: 'alice@l1',
    filter: { headers: [{ name: 'x-dev', value: 'alice' }], headerRegexes: [] },
  });
  t.equal(again.status, 200, 'the same id again replaces the registration');
  await oldClosed;
  t.pass('the replaced registration stream is ended by the router');
  t.ok(logged(router.logs, { msg: 'intercept removed', id: 'p1', why: 'replaced' }), 'logged: replaced');

  // Closing the stream ends the intercept: the port is free again.
  const gone = once(whole.stream, 'close');
  whole.stream.close(http2.constants.NGHTTP2_CANCEL);
  await gone;
  const after = await bob.register({ id: 'w2', port, owner: 'bob@l2' });
  t.equal(after.status, 200, 'a closed registration frees the port');
});

t.test('parking: only for a registered intercept on its port; plain dials refused', async (t) => {
  const pods = await httpSide(t, 'pods');
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`]);
  const [port] = router.routePorts as [number];
  const laptop = new TestLaptop(t, router.port, router.token);
  const detail = (h: http2.IncomingHttpHeaders) => parseProxyStatus(String(h['proxy-status']))?.details;

  const unknown = await laptop.parkOnce('nope', port);
  t.equal(unknown.status, 404, 'unknown id → 404');
  t.equal(detail(unknown.headers), 'no intercept nope');
  t.equal((await laptop.register({ id: 'w1', port, owner: 'a@b' })).status, 200);
  const wrongPort = await laptop.parkOnce('w1', port + 1);
  t.equal(wrongPort.status, 400, 'another port → 400');
  t.equal(detail(wrongPort.headers), `intercept w1 is on port ${port}`);
  const udp = await laptop.parkOnce('w1', port, { 'kvpn-accept': 'udp/1' });
  t.equal(udp.status, 400, 'UDP → 400');
  const ok = await laptop.parkOnce('w1', port);
  t.equal(ok.status, 102, 'parked: 102 at once');

  const dial = laptop.session.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:22', ...laptop.auth });
  dial.on('error', () => {});
  const [dialed] = (await once(dial, 'response')) as [http2.IncomingHttpHeaders];
  t.equal(dialed[':status'], 403, 'a plain CONNECT → 403');
  t.match(parseProxyStatus(String(dialed['proxy-status'])), {
    error: 'http_request_denied',
    details: 'this is a router: it dials nothing',
  });
  const expose = laptop.session.request({
    ':method': 'CONNECT',
    ':authority': '0.0.0.0:20000',
    'kvpn-accept': 'tcp',
    ...laptop.auth,
  });
  expose.on('error', () => {});
  const [exposed] = (await once(expose, 'response')) as [http2.IncomingHttpHeaders];
  t.equal(exposed[':status'], 403, 'kvpn-accept without kvpn-intercept → 403');

  const noToken = laptop.session.request({
    ':method': 'POST',
    ':path': '/v1/intercepts',
    'kvpn-intercept-spec': JSON.stringify({ id: 'x', port, owner: 'a' }),
  });
  noToken.on('error', () => {});
  const [denied] = (await once(noToken, 'response')) as [http2.IncomingHttpHeaders];
  t.equal(denied[':status'], 407, 'the token is still required');
});

t.test('/v1/info lists routes and intercepts; the registration stream reports counters as they change', async (t) => {
  const pods = await httpSide(t, 'pods');
  const mine = await httpSide(t, 'alice');
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`]);
  const [port] = router.routePorts as [number];
  const laptop = new TestLaptop(t, router.port, router.token);
  const reg = await laptop.register({ id: 'w1', port, owner: 'alice@l1' });
  t.equal(reg.status, 200);
  await laptop.park('w1', port, portOf(mine), 1);
  const res = await fetch(`http://127.0.0.1:${port}/hello`);
  t.equal(await res.text(), 'alice GET /hello ', 'a whole intercept takes the request');
  // The counters line comes on the next tick of the stats timer.
  reg.stream.setEncoding('utf8');
  const [line] = (await once(reg.stream, 'data')) as [string];
  t.same(JSON.parse(line), { toLaptop: 1, toPods: 0, failedOpen: 0, refused: 0, requestsDropped: 0 });

  const info = laptop.session.request({ ':method': 'GET', ':path': '/v1/info', ...laptop.auth });
  info.setEncoding('utf8');
  let body = '';
  info.on('data', (d) => {
    body += d;
  });
  await once(info, 'end');
  const json = JSON.parse(body);
  t.equal(json.protocol, 1);
  t.match(json.router, {
    routes: [
      {
        port,
        upstream: `127.0.0.1:${portOf(pods)}`,
        connections: 1,
        toLaptop: 1,
        toPods: 0,
        intercepts: [{ id: 'w1', owner: 'alice@l1', filter: '', whole: true, toLaptop: 1, failedOpen: 0, parked: 1 }],
      },
    ],
    carriersWatched: 1,
  });
  t.ok(logged(router.logs, { msg: 'intercept registered', id: 'w1', filter: '(whole)' }), 'logged: registered');
});
