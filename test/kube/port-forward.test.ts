import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import t, { type Test } from 'tap';
import { KubeClient } from '../../src/kube/client.js';
import { KubeApiError } from '../../src/kube/errors.js';
import { openPortForward, PortForwardError } from '../../src/kube/port-forward.js';
import { startFakePortForward } from '../tunnel/helpers/fake-port-forward.js';

async function tcpServer(t: Test, onConnection: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer(onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

async function setup(t: Test, opts: Parameters<typeof startFakePortForward>[0] = {}) {
  const api = await startFakePortForward(opts);
  t.teardown(() => api.close());
  const client = KubeClient.load({ kubeconfig: api.kubeconfig });
  t.teardown(() => client.close());
  return { api, client };
}

t.test('bytes cross both ways; the port headers never reach the reader', async (t) => {
  const port = await tcpServer(t, (s) => s.pipe(s));
  const { client } = await setup(t);
  const pf = await openPortForward(client, { namespace: 'ns1', pod: 'relay', port });
  const payload = randomBytes(3 * 1024 * 1024 + 17);
  const hash = createHash('sha256');
  let received = 0;
  pf.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    received += chunk.length;
    if (received === payload.length) pf.end();
  });
  pf.write(payload.subarray(0, 5));
  pf.write(payload.subarray(5));
  await once(pf, 'end');
  t.equal(received, payload.length, 'every byte echoed, none added');
  t.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'), 'same bytes in the same order');
  t.equal(pf.stats.bytesOut, payload.length);
  t.equal(pf.stats.bytesIn, payload.length);
});

t.test('the kubelet error text becomes the stream error', async (t) => {
  const closed = net.createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  const { client } = await setup(t);
  const pf = await openPortForward(client, { namespace: 'ns1', pod: 'relay', port });
  const [err] = (await once(pf, 'error')) as [PortForwardError];
  t.type(err, PortForwardError);
  t.equal(err.code, 'KVPN_ERR_PORT_FORWARD');
  t.match(err.kubeletMessage, /connect: connection refused/);
  t.match(err.message, new RegExp(`port-forward to port ${port}: error forwarding port ${port}`));
});

t.test('an error before the caller listens is not an uncaught exception', async (t) => {
  // The kubelet's "failed to connect" can come in the same read as the upgrade: its 'error' fires
  // (nextTick) before the caller's await resumes. Seen in CI: the daemon died of it.
  const port = await tcpServer(t, (s) => s.pipe(s));
  const { client } = await setup(t);
  const pf = await openPortForward(client, { namespace: 'ns1', pod: 'relay', port });
  t.ok(pf.listenerCount('error') >= 1, 'the stream keeps a listener of its own');
  const closed = new Promise((resolve) => pf.on('close', resolve));
  pf.destroy(new PortForwardError('port-forward to port 1: failed to connect'));
  await closed;
  t.pass('no uncaught exception');
});

t.test('a 403 on the upgrade is a KubeApiError with the API message', async (t) => {
  const { client } = await setup(t, { forbid: true });
  const err = await openPortForward(client, { namespace: 'ns1', pod: 'relay', port: 1 }).catch((e) => e);
  t.type(err, KubeApiError);
  t.equal(err.status, 403);
  t.match(err.apiMessage, /cannot create resource "pods\/portforward"/);
  const missing = await setup(t);
  const err404 = await openPortForward(missing.client, { namespace: 'ns1', pod: 'gone', port: 1 }).catch((e) => e);
  t.equal(err404.status, 404);
  t.match(err404.apiMessage, /pods "gone" not found/);
});

t.test('a reader that stops taking data pauses the socket; nothing is lost', async (t) => {
  const total = 16 * 1024 * 1024;
  const sent = randomBytes(total);
  const port = await tcpServer(t, (s) => {
    s.end(sent);
  });
  const { client } = await setup(t);
  const pf = await openPortForward(client, { namespace: 'ns1', pod: 'relay', port });
  // Do not read until the stream has had to pause the socket.
  while (pf.stats.pauses === 0) await new Promise((r) => setTimeout(r, 5));
  t.ok(pf.readableLength < 4 * 1024 * 1024, `buffered ${pf.readableLength} bytes while paused (bounded)`);
  const chunks: Buffer[] = [];
  for await (const chunk of pf) chunks.push(chunk as Buffer);
  t.ok(Buffer.concat(chunks).equals(sent), 'all bytes, in order, after resuming');
});

/** A target that sends until its connection goes away. */
function floodingTarget(t: Test): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 7);
  return tcpServer(t, (s) => {
    s.on('error', () => {});
    const pump = (): void => {
      while (!s.destroyed && s.write(chunk));
    };
    s.on('drain', pump);
    pump();
  });
}

t.test('destroy() after the reader stopped: the close handshake still completes', async (t) => {
  // Without reading on, the server's close frame (queued behind its data)
  // never arrives and ws waits 30 s before dropping the connection.
  t.setTimeout(10_000);
  const port = await floodingTarget(t);
  const { api, client } = await setup(t);
  const pf = await openPortForward(client, { namespace: 'ns1', pod: 'relay', port });
  while (pf.stats.pauses === 0) await new Promise((r) => setTimeout(r, 5));
  const [serverSide] = api.sockets;
  const serverClosed = once(serverSide as NonNullable<typeof serverSide>, 'close');
  const bytesIn = pf.stats.bytesIn;
  pf.destroy();
  const [code] = await serverClosed;
  t.equal(code, 1000, 'the server saw our close frame and its answer was read');
  t.equal(pf.stats.bytesIn, bytesIn, 'nothing was handed on after destroy()');
});

t.test('destroy() in the middle of a flowing download: the close handshake completes', async (t) => {
  t.setTimeout(10_000);
  const port = await floodingTarget(t);
  const { api, client } = await setup(t);
  const pf = await openPortForward(client, { namespace: 'ns1', pod: 'relay', port });
  const [serverSide] = api.sockets;
  const serverClosed = once(serverSide as NonNullable<typeof serverSide>, 'close');
  let afterDestroy = 0;
  pf.on('data', () => {
    if (pf.destroyed) afterDestroy++;
    else if (pf.stats.bytesIn > 1024 * 1024) pf.destroy();
  });
  const [code] = await serverClosed;
  t.equal(code, 1000, 'a clean close, not a timeout');
  t.equal(afterDestroy, 0, 'no data events after destroy()');
});

t.test('end() closes cleanly: the target sees EOF, our reader ends', async (t) => {
  let targetEnded!: () => void;
  const ended = new Promise<void>((r) => {
    targetEnded = r;
  });
  const port = await tcpServer(t, (s) => {
    s.on('data', () => {});
    s.on('end', () => {
      targetEnded();
      s.end();
    });
  });
  const { client } = await setup(t);
  const pf = await openPortForward(client, { namespace: 'ns1', pod: 'relay', port });
  const closed = once(pf, 'close');
  pf.resume();
  pf.end(Buffer.from('bye'));
  await ended;
  await closed;
  t.equal(pf.errored, null, 'closed without error');
});

t.test('a cut connection is an error, not a silent end', async (t) => {
  const port = await tcpServer(t, (s) => s.pipe(s));
  const { api, client } = await setup(t);
  const pf = await openPortForward(client, { namespace: 'ns1', pod: 'relay', port });
  pf.write('x');
  await once(pf, 'data');
  api.cutAll();
  const [err] = (await once(pf, 'error')) as [Error];
  t.match(err.message, /port-forward connection lost \(WebSocket close 1006/);
});

t.test('no pong from the server ends the stream with a keepalive error', async (t) => {
  const port = await tcpServer(t, (s) => s.pipe(s));
  const { api, client } = await setup(t);
  const pf = await openPortForward(client, { namespace: 'ns1', pod: 'relay', port, pingIntervalMs: 50 });
  // Freeze the server side: it stops reading, so pings go unanswered.
  for (const ws of api.sockets) (ws as unknown as { _socket: net.Socket })._socket.pause();
  const [err] = (await once(pf, 'error')) as [Error];
  t.match(err.message, /keepalive: no pong/);
});

t.test('a server that stops reading makes write() return false; bufferedAmount stays bounded', async (t) => {
  let received = 0;
  let target!: net.Socket;
  const port = await tcpServer(t, (s) => {
    target = s;
    s.pause();
    s.on('data', (c: Buffer) => {
      received += c.length;
    });
  });
  const { api, client } = await setup(t);
  const pf = await openPortForward(client, { namespace: 'ns1', pod: 'relay', port });
  // Stop the API server side from reading too: everything backs up to us.
  for (const ws of api.sockets) (ws as unknown as { _socket: net.Socket })._socket.pause();
  const chunk = Buffer.alloc(256 * 1024, 1);
  let written = 0;
  while (pf.write(chunk)) {
    written += chunk.length;
    if (written > 256 * 1024 * 1024) break;
  }
  written += chunk.length;
  t.ok(written < 64 * 1024 * 1024, `write() said stop after ${written >> 20} MiB`);
  t.ok(pf.bufferedAmount <= 64 * 1024 * 1024, `bufferedAmount ${pf.bufferedAmount >> 20} MiB`);
  for (const ws of api.sockets) (ws as unknown as { _socket: net.Socket })._socket.resume();
  while (!target) await new Promise((r) => setImmediate(r));
  target.resume();
  await once(pf, 'drain');
  while (received < written) await new Promise((r) => setTimeout(r, 10));
  t.equal(received, written, 'every byte arrives once the far side reads again');
  pf.resume();
  pf.end();
  await once(pf, 'close');
});
