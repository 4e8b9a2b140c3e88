// Port-forward through the stand-in exactly as kvpn will use it: a
// WebSocket with the v4.channel.k8s.io subprotocol, framed as the kubelet
// frames it, reaching 127.0.0.1 inside the pod; psql in the laptop talks to
// the real PostgreSQL pod through it; a relay-shaped pod (ConfigMap bundle,
// Secret token, hardened securityContext) dials Services by name. Then the
// faults: cut port-forwards, API server restart, latency, loss.
import { once } from 'node:events';
import type { Server, Socket } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { PORT_FORWARD_UPGRADE_HEADERS } from '../helpers/websocket-upgrade.js';
import { type Cluster, startCluster } from './index.js';

const cluster = await startCluster();
t.teardown(() => cluster.stop());

interface Forward {
  ws: WebSocket;
  /** Messages in arrival order, channel byte first. */
  frames: Buffer[];
  data: Buffer[];
  errors: string[];
  closed: Promise<number>;
}

/** A minimal port-forward client: ws over a TLS socket opened in the laptop namespace. */
async function portForward(c: Cluster, pod: string, port: number, namespace = 'default'): Promise<Forward> {
  const { socket, token } = await c.apiSocket('staging');
  const ws = new WebSocket(
    `wss://localhost/api/v1/namespaces/${namespace}/pods/${pod}/portforward?ports=${port}`,
    ['v4.channel.k8s.io'],
    {
      createConnection: () => socket,
      headers: { Authorization: `Bearer ${token}` },
    },
  );
  const f: Forward = {
    ws,
    frames: [],
    data: [],
    errors: [],
    closed: once(ws, 'close').then(([code]) => code as number),
  };
  const seen = new Set<number>();
  ws.on('message', (m: Buffer) => {
    f.frames.push(m);
    const ch = m[0] ?? 255;
    if (!seen.has(ch)) {
      seen.add(ch);
      return;
    }
    if (ch === 0) f.data.push(m.subarray(1));
    else if (ch === 1) f.errors.push(m.subarray(1).toString('utf8'));
  });
  ws.on('error', () => {});
  await once(ws, 'open');
  return f;
}

function send(f: Forward, payload: Buffer | string): void {
  f.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(payload)]));
}

async function waitFor<T>(fn: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const RELAY_JS = `
const net = require('net');
const fs = require('fs');
let writable = 'yes';
try { fs.writeFileSync('/probe', 'x'); } catch (e) { writable = e.code; }
console.log('relay uid', process.getuid(), 'root writable', writable);
net.createServer((s) => {
  let buf = '';
  const onData = (d) => {
    buf += d;
    const lines = buf.split('\\n');
    if (lines.length < 3) return;
    s.off('data', onData);
    if (lines[0] !== process.env.RELAY_TOKEN) { s.end('bad token\\n'); return; }
    const [host, port] = lines[1].split(' ');
    const up = net.connect(Number(port), host, () => { s.write('connected\\n'); up.write(lines.slice(2).join('\\n')); s.pipe(up).pipe(s); });
    up.on('error', (e) => s.end('dial failed ' + e.code + '\\n'));
  };
  s.setEncoding('utf8');
  s.on('data', onData);
}).listen(7070, '127.0.0.1');
`;

t.test('the first message on each channel is the port, little-endian', async (t) => {
  const [pg] = await cluster.pods({ app: 'postgres' });
  const f = await portForward(cluster, pg?.metadata.name ?? '', 5432);
  await waitFor(() => (f.frames.length >= 2 ? true : undefined), 'port frames');
  t.same(f.frames[0], Buffer.from([0, 0x38, 0x15]), 'data channel: 5432 = 0x1538');
  t.same(f.frames[1], Buffer.from([1, 0x38, 0x15]), 'error channel too');
  f.ws.close();
  await f.closed;
});

t.test('psql in the laptop talks to the PostgreSQL pod through a port-forward bridge', async (t) => {
  const [pg] = await cluster.pods({ app: 'postgres' });
  const listener: Server = await cluster.laptopListen(0);
  t.teardown(() => listener.close());
  const port = (listener.address() as { port: number }).port;
  listener.on('connection', (conn: Socket) => {
    void portForward(cluster, pg?.metadata.name ?? '', 5432).then((f) => {
      const flush = (): void => {
        for (const d of f.data.splice(0)) conn.write(d);
      };
      f.ws.on('message', () => setImmediate(flush));
      conn.on('data', (d: Buffer) => send(f, d));
      conn.on('close', () => f.ws.close());
      void f.closed.then(() => conn.end());
    });
  });
  const r = await cluster.exec(
    'psql',
    ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-tAc', "select 'via port-forward ' || version()"],
    { timeoutMs: 20_000 },
  );
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^via port-forward PostgreSQL 15\./);
});

t.test(
  'a relay-shaped pod: bundle from a ConfigMap, token from a Secret, hardened, dialing Services by name',
  async (t) => {
    const ok = (r: { status: number; body: string }): void => {
      if (r.status >= 300) throw new Error(r.body);
    };
    ok(
      await cluster.request('POST', '/api/v1/namespaces/default/configmaps', {
        body: { metadata: { name: 'relay-bundle' }, data: { 'relay.js': RELAY_JS } },
      }),
    );
    ok(
      await cluster.request('POST', '/api/v1/namespaces/default/secrets', {
        body: { metadata: { name: 'relay-token' }, stringData: { token: 't0ken' } },
      }),
    );
    ok(
      await cluster.request('POST', '/api/v1/namespaces/default/pods', {
        body: {
          metadata: { name: 'relay', labels: { app: 'kvpn-relay' } },
          spec: {
            automountServiceAccountToken: false,
            securityContext: { runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true },
            containers: [
              {
                name: 'relay',
                image: 'node:22-alpine',
                command: ['node', '/relay/relay.js'],
                env: [{ name: 'RELAY_TOKEN', valueFrom: { secretKeyRef: { name: 'relay-token', key: 'token' } } }],
                securityContext: {
                  readOnlyRootFilesystem: true,
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ['ALL'] },
                },
                readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 },
                volumeMounts: [{ name: 'bundle', mountPath: '/relay', readOnly: true }],
              },
            ],
            volumes: [{ name: 'bundle', configMap: { name: 'relay-bundle' } }],
          },
        },
      }),
    );
    await cluster.waitForReadyPod('relay');
    let log = '';
    for (let i = 0; i < 100 && !log.includes('relay uid'); i++) {
      // Logs are not in docs/rbac.md's minimal Role, which staging holds (the rest here is).
      log = (await cluster.request('GET', '/api/v1/namespaces/default/pods/relay/log', { context: 'admin' })).body;
      if (!log.includes('relay uid')) await new Promise((r) => setTimeout(r, 20));
    }
    t.equal(log, 'relay uid 1000 root writable EROFS\n', 'non-root, read-only root filesystem');

    const f = await portForward(cluster, 'relay', 7070);
    send(f, 't0ken\necho.default.svc.cluster.local 80\nGET / HTTP/1.0\r\n\r\n');
    await f.closed;
    const text = Buffer.concat(f.data).toString('utf8');
    t.match(text, /^connected\nHTTP\/1\.1 200 OK/, 'the relay resolved the Service name and dialed it');
    const echoPods = (await cluster.pods({ app: 'echo' })).map((p) => p.metadata.name);
    t.ok(
      echoPods.some((n) => text.endsWith(`\r\n\r\n${n}\n`)),
      'answered by an echo pod',
    );
    t.same(f.errors, [], 'nothing on the error channel');

    const bad = await portForward(cluster, 'relay', 7070);
    send(bad, 'wrong\nx 1\n\n');
    await bad.closed;
    t.equal(Buffer.concat(bad.data).toString('utf8'), 'bad token\n');
  },
);

t.test('nothing listening on the port: the error channel says so, then the stream closes', async (t) => {
  const [pg] = await cluster.pods({ app: 'postgres' });
  const f = await portForward(cluster, pg?.metadata.name ?? '', 5999);
  await f.closed;
  t.equal(f.errors.length, 1);
  t.match(
    f.errors[0],
    /^error forwarding port 5999 to pod \S+, uid : failed to execute portforward in network namespace: failed to connect to localhost:5999 inside namespace "\S+", IPv4: dial tcp4 127\.0\.0\.1:5999: connect: connection refused/,
  );
});

t.test('port-forward to a pod that is not running is refused at upgrade', async (t) => {
  await cluster.request('POST', '/api/v1/namespaces/default/pods', {
    body: { metadata: { name: 'pending' }, spec: { containers: [{ name: 'c', image: 'nope.invalid/x:1' }] } },
  });
  const res = await cluster.request('GET', '/api/v1/namespaces/default/pods/pending/portforward?ports=80', {
    headers: PORT_FORWARD_UPGRADE_HEADERS,
  });
  t.equal(res.status, 400);
  t.equal(res.json<{ message: string }>().message, 'pod pending is not running. Current status=Pending');
});

t.test('faults: cut port-forwards, restart the API server', async (t) => {
  const [pg] = await cluster.pods({ app: 'postgres' });
  const name = pg?.metadata.name ?? '';
  const a = await portForward(cluster, name, 5432);
  const b = await portForward(cluster, name, 5432);
  t.equal(await cluster.cutPortForwards(), 2);
  t.equal(await a.closed, 1006, 'abnormal closure, no close frame');
  t.equal(await b.closed, 1006);
  const c = await portForward(cluster, name, 5432);
  await cluster.restartApiServer({ downMs: 200 });
  t.equal(await c.closed, 1006, 'a restart drops open port-forwards');
  const d = await portForward(cluster, name, 5432);
  t.equal(d.ws.readyState, WebSocket.OPEN, 'a new one works after the restart');
  d.ws.close();
  await d.closed;
});

t.test('faults: latency and loss between the laptop and the API server', async (t) => {
  const timed = async (): Promise<number> => {
    const t0 = performance.now();
    const r = await cluster.request('GET', '/version', { context: 'admin' });
    if (r.status !== 200) throw new Error(r.body);
    return performance.now() - t0;
  };
  await cluster.setApiLatency(150);
  const slow = await timed();
  t.ok(slow >= 150 * 2, `TLS handshake + request take at least two delayed round trips (${slow.toFixed(0)} ms)`);
  await cluster.setApiLatency(0);
  await cluster.setApiLoss(100);
  const lost = await Promise.race([
    cluster.request('GET', '/version', { context: 'admin' }).then(() => 'answered'),
    new Promise((r) => setTimeout(() => r('silence'), 1500)),
  ]);
  t.equal(lost, 'silence', 'with 100% loss nothing gets through');
  await cluster.setApiLoss(20);
  t.equal(
    (await cluster.request('GET', '/version', { context: 'admin' })).status,
    200,
    'with 20% loss TCP still gets through',
  );
  await cluster.setApiLoss(0);
  t.equal((await cluster.request('GET', '/version', { context: 'admin' })).status, 200, 'and back');
});
