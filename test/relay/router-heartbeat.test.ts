// Fail open when a laptop goes silent (kill -9, sleep): the router PINGs each
// carrier holding registrations; a carrier that does not answer within the
// timeout is dropped with its intercepts, and the traffic goes to the pods.
import { once } from 'node:events';
import t from 'tap';
import { freezableProxy, httpSide, logged, portOf, startRouter, TestLaptop, until } from './helpers/local-router.js';

const dev = (name: string) => ({ headers: [{ name: 'x-dev', value: name }], headerRegexes: [] });

t.test('a frozen laptop loses its intercepts after a missed PING; traffic goes on to the pods', async (t) => {
  const pods = await httpSide(t, 'pods');
  const aliceApp = await httpSide(t, 'alice');
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`, `127.0.0.1:${portOf(pods)}`], {
    routerPingIntervalMs: 50,
    routerPingTimeoutMs: 100,
  });
  const [personalPort, wholePort] = router.routePorts as [number, number];
  const proxy = await freezableProxy(t, router.port);
  const laptop = new TestLaptop(t, proxy.port, router.token);
  t.equal((await laptop.register({ id: 'p1', port: personalPort, owner: 'a@l', filter: dev('alice') })).status, 200);
  t.equal((await laptop.register({ id: 'w1', port: wholePort, owner: 'a@l' })).status, 200);
  await laptop.park('p1', personalPort, portOf(aliceApp), 2);
  await laptop.park('w1', wholePort, portOf(aliceApp), 2);
  const get = async (port: number, who?: string) =>
    (await fetch(`http://127.0.0.1:${port}/x`, { headers: who ? { 'x-dev': who } : {} })).text();
  t.equal(await get(personalPort, 'alice'), 'alice GET /x ', 'before: alice is served by her laptop');
  t.equal(await get(wholePort), 'alice GET /x ', 'before: the whole port too');

  proxy.freeze();
  t.equal(await get(personalPort), 'pods GET /x ', 'while frozen: unmatched requests are served by the pods');
  await until(() => logged(router.logs, { msg: 'intercept removed', id: 'p1', why: 'ping timeout' }));
  await until(() => logged(router.logs, { msg: 'intercept removed', id: 'w1', why: 'ping timeout' }));
  t.ok(logged(router.logs, { msg: 'carrier did not answer a PING in time; dropping its intercepts' }), 'logged');
  t.equal(await get(personalPort, 'alice'), 'pods GET /x ', "after: alice's requests go to the pods");
  t.equal(await get(wholePort), 'pods GET /x ', 'after: the whole port goes to the pods');
  t.equal(aliceApp.requests, 2);
});

t.test('a live laptop answers every PING and keeps its intercepts', async (t) => {
  const pods = await httpSide(t, 'pods');
  const router = await startRouter(t, [`127.0.0.1:${portOf(pods)}`], {
    routerPingIntervalMs: 10,
    routerPingTimeoutMs: 5000,
  });
  const [port] = router.routePorts as [number];
  const laptop = new TestLaptop(t, router.port, router.token);
  const reg = await laptop.register({ id: 'w1', port, owner: 'a@l' });
  t.equal(reg.status, 200);
  // Several PINGs go by (each answered by Node's client automatically).
  let pings = 0;
  laptop.session.on('ping', () => pings++);
  await until(() => pings >= 5);
  t.notOk(logged(router.logs, { msg: 'intercept removed' }), 'still registered');
  reg.stream.close();
  await until(() => logged(router.logs, { msg: 'intercept removed', why: 'closed' }));
  const info = await once(laptop.session.request({ ':path': '/v1/info', ...laptop.auth }).setEncoding('utf8'), 'data');
  t.match(JSON.parse(String(info[0])).router, { carriersWatched: 0 }, 'a carrier without registrations is not pinged');
});
