import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { KubeApiError, KubeClient, UnknownContextError } from '../../src/kube/client.js';
import { kubeconfigYaml } from '../helpers/kubeconfig.js';

function kubeconfig(server: string, opts: { current?: string; contexts: [string, string][]; token: string }): string {
  return kubeconfigYaml({
    server,
    insecure: true,
    user: { token: opts.token },
    contexts: opts.contexts.map(([name, namespace]) => ({ name, namespace })),
    ...(opts.current ? { current: opts.current } : {}),
  });
}

async function apiServer(t: Test, handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('several kubeconfig files merge with kubectl rules: the first file wins', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-kc-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  writeFileSync(
    a,
    kubeconfig('http://127.0.0.1:1', { current: 'staging', contexts: [['staging', 'shop']], token: 'A' }),
  );
  writeFileSync(
    b,
    kubeconfig('http://127.0.0.1:2', {
      current: 'prod',
      contexts: [
        ['prod', 'x'],
        ['staging', 'other'],
      ],
      token: 'B',
    }),
  );
  const client = KubeClient.load({ kubeconfig: `${a}:${b}` });
  t.equal(client.contextName, 'staging', 'current-context from the first file that sets it');
  t.equal(client.namespace, 'shop', 'context defined twice: the first definition wins');
  t.equal(client.server.port, '1');
  t.same(client.contexts().sort(), ['prod', 'staging']);
  const prod = KubeClient.load({ kubeconfig: `${a}:${b}`, context: 'prod', namespace: 'ns1' });
  t.equal(prod.namespace, 'ns1', '--namespace overrides the context');
});

t.test('an unknown context names the contexts there are and the nearest one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-kc-'));
  const file = join(dir, 'config');
  writeFileSync(
    file,
    kubeconfig('http://127.0.0.1:1', {
      contexts: [
        ['staging', 'default'],
        ['admin', 'default'],
      ],
      token: 'x',
    }),
  );
  const err = (() => {
    try {
      KubeClient.load({ kubeconfig: file, context: 'stagign' });
    } catch (e) {
      return e;
    }
  })();
  t.type(err, UnknownContextError);
  t.equal((err as UnknownContextError).code, 'KVPN_ERR_UNKNOWN_CONTEXT');
  t.match((err as UnknownContextError).remedy, /did you mean "staging"/);
  t.throws(() => KubeClient.load({ kubeconfig: join(dir, 'missing') }), { code: 'KVPN_ERR_KUBECONFIG' });
  writeFileSync(join(dir, 'broken'), 'clusters: [ {');
  t.throws(() => KubeClient.load({ kubeconfig: join(dir, 'broken') }), { code: 'KVPN_ERR_KUBECONFIG' });
});

t.test('requests carry the bearer token; API errors keep the Status message', async (t) => {
  const seen: string[] = [];
  const url = await apiServer(t, (req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
    if (req.url?.startsWith('/api/v1/nodes')) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          status: 'Failure',
          reason: 'Forbidden',
          code: 403,
          message: 'nodes is forbidden: User "dev" cannot list resource "nodes"',
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'PodList', items: [] }));
  });
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-kc-'));
  writeFileSync(join(dir, 'c'), kubeconfig(url, { current: 's', contexts: [['s', 'default']], token: 'secret-token' }));
  const client = KubeClient.load({ kubeconfig: join(dir, 'c') });
  t.teardown(() => client.close());
  const pods = await client.request<{ items: unknown[] }>('GET', '/api/v1/namespaces/default/pods', {
    query: { limit: 5 },
  });
  t.same(pods.items, []);
  t.equal(seen[0], 'GET /api/v1/namespaces/default/pods?limit=5 Bearer secret-token');
  const err = await client.request<never>('GET', '/api/v1/nodes').catch((e: unknown) => e as KubeApiError);
  t.type(err, KubeApiError);
  t.equal(err.code, 'KVPN_ERR_API_FORBIDDEN');
  t.equal(err.reason, 'Forbidden');
  t.match(err.message, /cannot list resource "nodes"/);
});

t.test('an unreachable API server is a clear error, not a hang', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-kc-'));
  const url = await apiServer(t, () => {});
  const port = new URL(url).port;
  writeFileSync(
    join(dir, 'c'),
    kubeconfig(`http://127.0.0.1:${Number(port)}`, { current: 's', contexts: [['s', 'default']], token: 'x' }),
  );
  const client = KubeClient.load({ kubeconfig: join(dir, 'c') });
  t.teardown(() => client.close());
  const err = await client.request<never>('GET', '/api', { timeoutMs: 200 }).catch((e: unknown) => e as KubeApiError);
  t.equal(err.code, 'KVPN_ERR_API_UNREACHABLE');
});
