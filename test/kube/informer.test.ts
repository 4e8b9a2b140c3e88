// The informer against a scripted API server: list, watch, a 410 Gone, relist.
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { KubeClient } from '../../src/kube/client.js';
import { Informer, type KubeObject } from '../../src/kube/informer.js';
import { writeKubeconfig } from '../helpers/kubeconfig.js';

const svc = (name: string, rv: string): KubeObject => ({
  metadata: { name, namespace: 'default', resourceVersion: rv },
});

t.test('list then watch; a 410 on the watch relists and reports what vanished as DELETED', async (t) => {
  const requests: string[] = [];
  let lists = 0;
  let watches = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(
      `${url.searchParams.get('watch') ? 'WATCH' : 'LIST'} rv=${url.searchParams.get('resourceVersion') ?? ''}`,
    );
    res.writeHead(200, { 'content-type': 'application/json' });
    if (!url.searchParams.get('watch')) {
      lists++;
      const items = lists === 1 ? [svc('a', '1'), svc('b', '2')] : [svc('a', '7'), svc('c', '8')];
      res.end(JSON.stringify({ kind: 'ServiceList', metadata: { resourceVersion: lists === 1 ? '2' : '8' }, items }));
      return;
    }
    watches++;
    if (watches === 1) {
      // Split one event across two writes: lines must be reassembled.
      const line = `${JSON.stringify({ type: 'MODIFIED', object: svc('b', '3') })}\n`;
      res.write(line.slice(0, 10));
      res.write(line.slice(10));
      res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { name: '', resourceVersion: '4' } } })}\n`);
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', metadata: {} } })}\n`,
      );
      return;
    }
    // Hold the second watch open until the test closes the informer.
    res.write('\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-inf-'));
  const port = (server.address() as AddressInfo).port;
  writeKubeconfig(join(dir, 'c'), {
    server: `http://127.0.0.1:${port}`,
    insecure: true,
    user: { token: 'x' },
    contexts: [{ name: 's' }],
    current: 's',
  });
  const client = KubeClient.load({ kubeconfig: join(dir, 'c') });
  const events: string[] = [];
  let syncs = 0;
  const errors: string[] = [];
  const secondSync = new Promise<void>((resolve) => {
    const informer = new Informer<KubeObject>(client, '/api/v1/namespaces/default/services', {
      onEvent: (type, o) => events.push(`${type} ${o.metadata.name}@${o.metadata.resourceVersion}`),
      onSynced: () => {
        syncs++;
        if (syncs === 2) resolve();
      },
      onError: (err) => errors.push(err.message),
    }).start();
    t.teardown(() => {
      informer.close();
      client.close();
    });
  });
  await secondSync;
  t.same(events, ['ADDED a@1', 'ADDED b@2', 'MODIFIED b@3', 'MODIFIED a@7', 'ADDED c@8', 'DELETED b@3']);
  t.same(requests.slice(0, 3), ['LIST rv=', 'WATCH rv=2', 'LIST rv=']);
  t.match(errors[0], /expired; relisting/);
});
