// The tunnel against the test world: a relay deployed by our code through
// the stand-in API server, traffic to cluster Services and Pods through real
// port-forward WebSockets, dial results, faults, security. The carrier is
// HTTP/2 here; cluster-mux.test.ts runs the same file over the mux.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import type { KubeClient } from '../../src/kube/client.js';
import { openPortForward } from '../../src/kube/port-forward.js';
import { deployRelay, type RelayHandle } from '../../src/relay/deploy.js';
import { DialError, type DialRequest } from '../../src/tun/stack/dialer.js';
import { TunnelDialer, type TunnelState } from '../../src/tunnel/dialer.js';
import { TunnelResetError } from '../../src/tunnel/tcp-connection.js';
import type { Cluster } from '../cluster/index.js';
import { blackholeScript } from './helpers/blackhole.js';
import { startWorld } from './helpers/world.js';

const CARRIER = process.env.KVPN_TEST_CARRIER === 'mux' ? 'mux' : 'h2';

function request(address: string, port: number): DialRequest {
  return {
    family: 4,
    destination: { address, port },
    source: { address: '10.0.0.1', port: 40000 },
    signal: new AbortController().signal,
  };
}

async function echoRoundTrip(conn: Duplex, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  conn.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(conn, 'end');
  conn.end(payload);
  await ended;
  return Buffer.concat(chunks);
}

function until(d: TunnelDialer, state: TunnelState): Promise<void> {
  if (d.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const off = d.onStateChange((c) => {
      if (c.state === state) {
        off();
        resolve();
      }
    });
  });
}

/** RSS of the relay's node process, from /proc (the pod is a process on this machine). */
function relayRssBytes(netns: string): number {
  const pids = execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      const cmdline = execFileSync('cat', [`/proc/${pid}/cmdline`], { encoding: 'utf8' });
      if (!cmdline.includes('relay.cjs')) continue;
      const status = execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' });
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
    } catch {}
  }
  throw new Error('relay process not found');
}

/** A pod that accepts TCP on 7777 and never answers further SYNs: its accept queue is full. */
async function blackholePod(cluster: Cluster, admin: KubeClient, t: Test): Promise<string> {
  await admin.request('POST', '/api/v1/namespaces/default/pods', {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'blackhole', namespace: 'default', labels: { app: 'blackhole' } },
      spec: {
        terminationGracePeriodSeconds: 0,
        containers: [
          { name: 'bh', image: 'node:22-alpine', command: ['node', '-e', blackholeScript('0.0.0.0', 7777)] },
        ],
      },
    },
  });
  t.teardown(() => cluster.deletePod('blackhole', 'default', 0).catch(() => {}));
  const pod = await cluster.waitForPod('blackhole', (p) => p?.status?.phase === 'Running' && !!p.status.podIP);
  // The container prints "ready" once its queue is full.
  const logs = await admin.open('GET', '/api/v1/namespaces/default/pods/blackhole/log', { query: { follow: 'true' } });
  for await (const chunk of logs) if (String(chunk).includes('ready')) break;
  logs.destroy();
  return pod?.status?.podIP as string;
}

t.test('against the test world', async (t) => {
  const { cluster, staging, admin } = await startWorld(t);
  const relay: RelayHandle = await deployRelay(staging, { sessionId: 'tun1', owner: 'dev@laptop' });
  t.teardown(() => relay.delete());
  const dialer = new TunnelDialer({
    client: staging,
    relay,
    carriers: 4,
    backoffMinMs: 100,
    backoffMaxMs: 1000,
    carrier: CARRIER,
  });
  t.teardown(() => dialer.destroy());
  await dialer.ready(20_000);
  await until(dialer, 'up');
  t.equal(dialer.carrierKind, CARRIER, `the carriers are ${CARRIER}`);
  const echoIp = await cluster.serviceIp('echo');

  await t.test('200 concurrent TCP streams to a Service, each with its own bytes', async (t) => {
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const payload = randomBytes(16 * 1024 + i);
        const conn = await dialer.dialTcp(request(echoIp, 7));
        const back = await echoRoundTrip(conn, payload);
        return back.equals(payload);
      }),
    );
    t.equal(results.filter(Boolean).length, 200, 'every stream echoed exactly its bytes');
    t.same(dialer.carrierLoads().length, 4, 'four port-forward carriers carried them');
  });

  await t.test('a UDP flow to the udp-echo Service', async (t) => {
    const flow = await dialer.openUdp(request(await cluster.serviceIp('udp-echo'), 9000));
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      flow.onDatagram((d) => {
        got.push(Buffer.from(d).toString());
        if (got.length === 20) resolve();
      }),
    );
    for (let i = 0; i < 20; i++) flow.send(Buffer.from(`datagram ${i}`));
    await all;
    t.same(
      got.sort(),
      Array.from({ length: 20 }, (_, i) => `datagram ${i}`).sort(),
      'every datagram came back, boundaries kept',
    );
    flow.close();
  });

  await t.test('psql reaches PostgreSQL through the tunnel', async (t) => {
    const pgIp = await cluster.serviceIp('postgres');
    const listener = await cluster.laptopListen(0);
    t.teardown(() => listener.close());
    listener.on('connection', (local: Socket) => {
      local.on('error', () => {});
      dialer.dialTcp(request(pgIp, 5432)).then(
        (remote) => {
          remote.on('error', () => local.destroy());
          local.on('error', () => remote.destroy());
          local.pipe(remote).pipe(local);
        },
        () => local.destroy(),
      );
    });
    const port = (listener.address() as { port: number }).port;
    const r = await cluster.exec(
      'psql',
      ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-tAc', 'select 6 * 7, current_user'],
      {
        timeoutMs: 20_000,
      },
    );
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.trim(), '42|postgres');
  });

  await t.test('names resolve with the cluster DNS from the relay', async (t) => {
    t.same(
      await dialer.resolve('postgres'),
      [await cluster.serviceIp('postgres')],
      'search path of the relay namespace',
    );
    const conn = await dialer.connect(`echo.default.svc.${cluster.clusterDomain}`, 7);
    t.equal((await echoRoundTrip(conn, Buffer.from('by name'))).toString(), 'by name');
  });

  await t.test('refused, unreachable and timeout are told apart end to end', async (t) => {
    const echoPod = (await cluster.pods({ app: 'echo' }, 'default'))[0]?.status?.podIP as string;
    const bh = await blackholePod(cluster, admin, t);
    // Longer than ARP's 3 s, so an absent host reads as unreachable, not as a timeout.
    const timed = new TunnelDialer({ client: staging, relay, carriers: 1, connectTimeoutMs: 4500, carrier: CARRIER });
    t.teardown(() => timed.destroy());
    await timed.ready(10_000);
    const refused = (await timed.dialTcp(request(echoPod, 1)).catch((e) => e)) as DialError;
    t.type(refused, DialError);
    t.equal(refused.reason, 'refused', refused.message);
    const unreachable = (await timed.dialTcp(request('10.244.0.250', 80)).catch((e) => e)) as DialError;
    t.equal(unreachable.reason, 'unreachable', unreachable.message);
    const timeout = (await timed.dialTcp(request(bh, 7777)).catch((e) => e)) as DialError;
    t.equal(timeout.reason, 'timeout', timeout.message);
    t.same(timed.stats.dialErrors, { refused: 1, unreachable: 1, timeout: 1, error: 0 });
  });

  await t.test('the relay refuses a stream without the token', async (t) => {
    const pf = await openPortForward(staging, { namespace: relay.namespace, pod: relay.podName, port: relay.port });
    const h2 = http2.connect('http://relay', { createConnection: () => pf });
    t.teardown(() => h2.destroy());
    const stream = h2.request({ ':method': 'CONNECT', ':authority': `${echoIp}:7` });
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    t.equal(headers[':status'], 407);
    t.match(headers['proxy-status'], /error=http_request_denied/);
  });

  await t.test('the relay is not reachable on its pod IP from another pod', async (t) => {
    const echoPod = (await cluster.pods({ app: 'echo' }, 'default'))[0]?.metadata.name as string;
    const relayIp = await cluster.podIp(relay.podName);
    const probe = `const s=require('net').connect(${relay.port},'${relayIp}');s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)})`;
    const r = await cluster.execInPod(echoPod, 'default', 'node', ['-e', probe], { timeoutMs: 10_000 });
    t.equal(r.stdout.trim(), 'ECONNREFUSED', 'nothing listens on the pod IP');
  });

  await t.test('a slow reader: relay memory stays bounded', async (t) => {
    const net = await cluster.podNet(relay.podName);
    const before = relayRssBytes(net.netns);
    const conn = await dialer.dialTcp(request(echoIp, 7));
    // Offer 1 GiB to the echo server without reading the echo back.
    const chunk = Buffer.alloc(1024 * 1024, 7);
    let written = 0;
    const pump = (): void => {
      while (written < 1024 * 1024 * 1024 && !conn.destroyed) {
        written += chunk.length;
        if (!conn.write(chunk)) return void conn.once('drain', pump);
      }
    };
    conn.on('error', () => {});
    pump();
    let last = -1;
    while (written !== last) {
      last = written;
      await new Promise((r) => setTimeout(r, 500));
    }
    const during = relayRssBytes(net.netns);
    // What the path can hold: stream windows both ways, socket buffers at every hop.
    t.ok(written < 192 * 1024 * 1024, `writer stalled after ${written >> 20} MiB (backpressure end to end)`);
    t.ok(
      during - before < 96 * 1024 * 1024,
      `relay RSS grew ${((during - before) / 2 ** 20).toFixed(1)} MiB (ceiling 96 MiB)`,
    );
    conn.destroy();
  });

  await t.test(
    'deleting the relay pod mid-transfer: streams fail at once, a new relay serves new connections',
    async (t) => {
      const conns = await Promise.all(Array.from({ length: 5 }, () => dialer.dialTcp(request(echoIp, 7))));
      for (const c of conns) c.resume();
      for (const c of conns) c.write(randomBytes(256 * 1024));
      const failed = Promise.all(conns.map((c) => once(c, 'error').then(([e]) => e as Error)));
      const old = relay.podName;
      const started = Date.now();
      await cluster.deletePod(old, 'default', 0);
      const errs = await failed;
      t.ok(
        errs.every((e) => e instanceof TunnelResetError),
        'each open stream was reset',
      );
      t.ok(Date.now() - started < 5000, `within ${Date.now() - started} ms`);
      const conn = await dialer.dialTcp(request(echoIp, 7));
      t.equal((await echoRoundTrip(conn, Buffer.from('after'))).toString(), 'after', 'new connection works');
      t.not(relay.podName, old, 'through a new relay pod');
      t.ok(dialer.stats.recoveries >= 1);
    },
  );

  await t.test('all port-forwards cut: carriers come back', async (t) => {
    await until(dialer, 'up');
    const lostBefore = dialer.stats.carriersLost;
    const recovered = new Promise<void>((resolve) => {
      let wentDown = false;
      const off = dialer.onStateChange((c) => {
        if (c.state !== 'up') wentDown = true;
        else if (wentDown) {
          off();
          resolve();
        }
      });
    });
    const cut = await cluster.cutPortForwards();
    t.ok(cut >= 4, `${cut} port-forwards cut`);
    await recovered;
    t.ok(dialer.stats.carriersLost - lostBefore >= 4, 'every carrier was lost and reopened');
    const conn = await dialer.dialTcp(request(echoIp, 7));
    t.equal((await echoRoundTrip(conn, Buffer.from('again'))).toString(), 'again');
  });

  await t.test('API server restart: new connections work once it is back', async (t) => {
    await cluster.restartApiServer({ downMs: 1000 });
    await until(dialer, 'up');
    const payload = randomBytes(1024 * 1024);
    const conn = await dialer.dialTcp(request(echoIp, 7));
    const back = await echoRoundTrip(conn, payload);
    t.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(payload).digest('hex'));
  });
});
