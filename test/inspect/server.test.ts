// The inspection page's server over real HTTP on 127.0.0.1: who gets in
// (Host, the secret and its cookie, Origin on replay), what it serves
// (assets with a strict CSP, JSON views, the event stream), replaying a
// captured request to a local server, and the port it picks.
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import t, { type Test } from 'tap';
import { DnsLog } from '../../src/inspect/dns-log.js';
import { FlowLog } from '../../src/inspect/flow-log.js';
import { Guard } from '../../src/inspect/guard.js';
import { NameBook } from '../../src/inspect/name-book.js';
import { RequestLog, type RoutedRequest } from '../../src/inspect/request-log.js';
import { InspectServer } from '../../src/inspect/server.js';

const SECRET = 'test-secret-0123456789';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function ask(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      method,
      headers: { host: `127.0.0.1:${port}`, ...headers },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.end();
  });
}

async function start(t: Test, port = 0) {
  const names = new NameBook();
  const sources = {
    status: () => ({ context: 'staging', namespace: 'shop', state: 'running' }),
    flows: new FlowLog({ names }),
    dns: new DnsLog({ names, namespace: 'shop' }),
    requests: new RequestLog(),
  };
  const server = await InspectServer.listen({ port, sources, secret: SECRET });
  t.teardown(() => server.close());
  const cookie = `kvpn_ui_${server.port}=${SECRET}`;
  return { server, sources, cookie, port: server.port };
}

function routed(overrides: Partial<RoutedRequest> = {}): RoutedRequest {
  return {
    seq: 1,
    at: Date.now(),
    protocol: 'http/1.1',
    method: 'POST',
    path: '/orders?id=7',
    authority: 'web.shop',
    to: 'laptop',
    filter: 'x-dev=alice',
    headers: [
      ['host', 'web.shop'],
      ['x-dev', 'alice'],
      ['content-type', 'application/json'],
      ['content-length', '11'],
    ],
    body: Buffer.from('{"qty": 12}').toString('base64'),
    bodyBytes: 11,
    status: 201,
    durationMs: 4,
    ...overrides,
  };
}

t.test('the secret in the URL becomes an HttpOnly SameSite=Strict cookie, then the page loads', async (t) => {
  const { server, port, cookie } = await start(t);
  t.equal(server.url, `http://127.0.0.1:${port}/?token=${SECRET}`);
  const login = await ask(port, `/?token=${SECRET}`);
  t.equal(login.status, 303);
  t.equal(login.headers.location, '/');
  t.equal(login.headers['set-cookie']?.[0], `${cookie}; Path=/; HttpOnly; SameSite=Strict`);
  const page = await ask(port, '/', { cookie });
  t.equal(page.status, 200);
  t.match(page.body, /<title>kvpn inspect<\/title>/);
  t.match(page.headers['content-security-policy'], /default-src 'none'; script-src 'self'/);
  t.equal(page.headers['x-frame-options'], 'DENY');
  t.equal(page.headers['cache-control'], 'no-store');
  const js = await ask(port, '/app.js', { cookie });
  t.match(js.headers['content-type'], /javascript/);
  t.notMatch(
    js.body,
    /innerHTML|outerHTML|insertAdjacentHTML|document\.write/,
    'the page never parses network data as HTML',
  );
  t.equal((await ask(port, '/app.css', { cookie })).status, 200);
});

t.test('refused: a wrong Host, no secret, a wrong secret, a cross-origin replay', async (t) => {
  const { port, cookie, sources } = await start(t);
  const rebinding = await ask(port, '/api/overview', { host: `evil.example:${port}`, cookie });
  t.equal(rebinding.status, 421, 'a DNS-rebinding name is refused');
  t.equal((await ask(port, '/api/overview', { host: `127.0.0.1:${port + 1}`, cookie })).status, 421);
  t.equal((await ask(port, '/api/overview')).status, 401, 'no secret');
  t.equal((await ask(port, '/api/overview', { cookie: `kvpn_ui_${port}=guess` })).status, 401);
  t.equal((await ask(port, '/?token=guess')).status, 401);
  sources.requests.record({ name: 'web-alice', service: 'web', namespace: 'shop', localPort: 1 }, routed());
  const foreign = await ask(port, '/api/requests/1/replay', { cookie, origin: 'http://evil.example' }, 'POST');
  t.equal(foreign.status, 403);
  t.match(foreign.body, /cross-origin/);
  t.equal((await ask(port, '/api/requests/1/replay', { cookie }, 'POST')).status, 403, 'no Origin at all');
  const site = await ask(
    port,
    '/api/requests/1/replay',
    { cookie, origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'cross-site' },
    'POST',
  );
  t.equal(site.status, 403);
  t.equal((await ask(port, '/api/overview', { cookie }, 'DELETE')).status, 403, 'other methods need our Origin too');
  t.equal((await ask(port, '/api/overview', { cookie, origin: `http://localhost:${port}` }, 'PUT')).status, 405);
});

t.test('the views as JSON', async (t) => {
  const { port, cookie, sources } = await start(t);
  sources.flows.begin('tcp', '10.1.0.2:5000', '10.96.0.1', 443);
  sources.requests.record({ name: 'web-alice', service: 'web', namespace: 'shop', localPort: 1 }, routed());
  const overview = JSON.parse((await ask(port, '/api/overview', { cookie })).body);
  t.match(overview, {
    status: { context: 'staging' },
    recorded: { flows: { total: 1, open: 1 }, dns: 0, requests: 1 },
  });
  const flows = JSON.parse((await ask(port, '/api/connections?state=active&limit=5', { cookie })).body);
  t.match(flows, { matched: 1, flows: [{ destination: '10.96.0.1:443', state: 'dialing' }] });
  t.ok(flows.states.includes('refused'));
  t.match(JSON.parse((await ask(port, '/api/dns?rcode=NXDOMAIN', { cookie })).body), { matched: 0 });
  const requests = JSON.parse((await ask(port, '/api/requests?to=laptop', { cookie })).body);
  t.match(requests, {
    matched: 1,
    requests: [{ id: 1, method: 'POST', path: '/orders?id=7', status: 201, to: 'laptop' }],
  });
  const detail = JSON.parse((await ask(port, '/api/requests/1', { cookie })).body);
  t.match(detail, { body: '{"qty": 12}', bodyEncoding: 'text', request: { filter: 'x-dev=alice' } });
  t.equal((await ask(port, '/api/requests/99', { cookie })).status, 404);
  t.equal((await ask(port, '/api/nothing', { cookie })).status, 404);
});

t.test('events: the versions now, then whenever a log changes', async (t) => {
  const { port, cookie, sources } = await start(t);
  const res = await new Promise<http.IncomingMessage>((resolve) =>
    http.get({ host: '127.0.0.1', port, path: '/api/events', headers: { host: `127.0.0.1:${port}`, cookie } }, resolve),
  );
  t.equal(res.headers['content-type'], 'text/event-stream');
  res.setEncoding('utf8');
  const events: string[] = [];
  const next = () =>
    new Promise<Record<string, number>>((resolve) => {
      const onData = (chunk: string) => {
        events.push(chunk);
        const data = /data: (.*)\n\n/.exec(chunk);
        if (data) {
          res.off('data', onData);
          resolve(JSON.parse(data[1] as string));
        }
      };
      res.on('data', onData);
    });
  t.match(await next(), { flows: 0, dns: 0, requests: 0 });
  sources.flows.begin('tcp', '10.1.0.2:5000', '10.96.0.1', 443);
  t.match(await next(), { flows: 1 });
  res.destroy();
});

t.test('replay: the captured request again to the local process, and its answer', async (t) => {
  const seen: { method?: string; url?: string; headers?: http.IncomingHttpHeaders; body: string }[] = [];
  const local = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(202, { 'x-local': 'yes' });
      res.end('accepted here');
    });
  });
  local.listen(0, '127.0.0.1');
  await once(local, 'listening');
  t.teardown(() => local.close());
  const localPort = (local.address() as net.AddressInfo).port;
  const { port, cookie, sources } = await start(t);
  const intercept = { name: 'web-alice', service: 'web', namespace: 'shop', localPort };
  sources.requests.record(intercept, routed());
  const origin = `http://127.0.0.1:${port}`;
  const answer = await ask(port, '/api/requests/1/replay', { cookie, origin, 'sec-fetch-site': 'same-origin' }, 'POST');
  t.equal(answer.status, 200);
  t.match(JSON.parse(answer.body), { status: 202, body: 'accepted here', bodyBytes: 13, error: null });
  t.match(seen[0], {
    method: 'POST',
    url: '/orders?id=7',
    headers: { 'x-dev': 'alice', host: 'web.shop', 'content-length': '11' },
    body: '{"qty": 12}',
  });
  t.equal(JSON.parse((await ask(port, '/api/requests/1', { cookie })).body).replays.length, 1, 'kept with the request');

  sources.requests.record(intercept, routed({ bodyTruncated: true, bodyBytes: 100_000 }));
  const truncated = await ask(port, '/api/requests/2/replay', { cookie, origin }, 'POST');
  t.equal(truncated.status, 409);
  t.match(truncated.body, /not captured whole/);
  t.equal((await ask(port, '/api/requests/9/replay', { cookie, origin }, 'POST')).status, 404);

  local.close();
  await once(local, 'close');
  const down = JSON.parse((await ask(port, '/api/requests/1/replay', { cookie, origin }, 'POST')).body);
  t.match(down, { status: null, error: /ECONNREFUSED/ }, 'a local process that is down is an answer too');
});

t.test('a taken port: the next one', async (t) => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => blocker.close());
  const taken = (blocker.address() as net.AddressInfo).port;
  const { port } = await start(t, taken);
  t.equal(port, taken + 1);
});

t.test('the guard alone: localhost is ours too, cookies are per port', async (t) => {
  const guard = new Guard(4040, SECRET);
  const base = { method: 'GET', url: '/', origin: undefined, cookie: `other=1; kvpn_ui_4040=${SECRET}` };
  t.same(guard.check({ ...base, host: 'localhost:4040' }), { kind: 'allow' });
  t.match(guard.check({ ...base, host: 'LOCALHOST:4040' }), { kind: 'allow' });
  t.match(guard.check({ ...base, host: undefined }), { kind: 'deny', status: 421 });
  t.match(guard.check({ ...base, host: '127.0.0.1:4040', cookie: `kvpn_ui_4041=${SECRET}` }), {
    kind: 'deny',
    status: 401,
  });
  t.match(guard.check({ ...base, host: '127.0.0.1:4040', url: `/x?a=1&token=${SECRET}` }), {
    kind: 'login',
    location: '/x?a=1',
  });
});

t.test('environment: asked of the session, its errors shown as they are', async (t) => {
  const names = new NameBook();
  const asked: unknown[] = [];
  const sources = {
    status: () => ({}),
    flows: new FlowLog({ names }),
    dns: new DnsLog({ names, namespace: 'shop' }),
    requests: new RequestLog(),
    environment: async (query: { workload: string; container?: string | undefined }) => {
      asked.push(query);
      if (query.workload === 'deploy/nope')
        throw Object.assign(new Error('no workload "nope" in namespace shop'), { code: 'KVPN_ERR_WORKLOAD_NOT_FOUND' });
      return { workload: 'Deployment/web', entries: [{ name: 'DB_PASSWORD', value: 's3cret', fromSecret: true }] };
    },
  };
  const server = await InspectServer.listen({ port: 0, sources, secret: SECRET });
  t.teardown(() => server.close());
  const cookie = `kvpn_ui_${server.port}=${SECRET}`;
  const ok = await ask(server.port, '/api/environment?workload=deploy/web&container=app', { cookie });
  t.equal(ok.status, 200);
  t.match(JSON.parse(ok.body), { entries: [{ name: 'DB_PASSWORD', fromSecret: true }] });
  t.same(asked, [{ workload: 'deploy/web', container: 'app' }]);
  const missing = await ask(server.port, '/api/environment?workload=deploy/nope', { cookie });
  t.equal(missing.status, 422);
  t.match(JSON.parse(missing.body), { error: /no workload "nope"/, code: 'KVPN_ERR_WORKLOAD_NOT_FOUND' });
  t.equal((await ask(server.port, '/api/environment', { cookie })).status, 400);
  const { port, cookie: other } = await start(t);
  t.equal((await ask(port, '/api/environment?workload=x', { cookie: other })).status, 404, 'a server without it');
});
