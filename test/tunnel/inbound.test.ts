// Inbound connections end to end over local sockets: a "cluster client"
// connects to the relay's inbound port, the laptop's InboundForwarder takes
// it over a parked stream and joins it to a server on the laptop's loopback.
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import t, { type Test } from 'tap';
import { INBOUND_PORT_MIN } from '../../src/relay/protocol.js';
import { TunnelDialer } from '../../src/tunnel/dialer.js';
import { InboundForwarder } from '../../src/tunnel/inbound.js';
import { startLocalRelay } from '../relay/helpers/local-relay.js';

/** HTTP/2 here; inbound-mux.test.ts runs this file over the mux carrier. */
const CARRIER = process.env.KVPN_TEST_CARRIER === 'mux' ? 'mux' : 'h2';

let nextPort = INBOUND_PORT_MIN + 100 + Math.floor(Math.random() * 5000);

async function localServer(t: Test, onConnection: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

async function setup(t: Test, localPort: number, relay: Parameters<typeof startLocalRelay>[1] = {}) {
  const local = await startLocalRelay(t, relay);
  const dialer = new TunnelDialer({ transport: local.transport, carriers: 2, carrier: CARRIER });
  t.teardown(() => dialer.destroy());
  await dialer.ready(5000);
  const port = nextPort++;
  const localErrors: string[] = [];
  const forwarder = new InboundForwarder(dialer, {
    port,
    localPort,
    onLocalError: (err) => localErrors.push(err.code ?? err.message),
  });
  t.teardown(() => forwarder.close());
  forwarder.start();
  return { local, dialer, port, forwarder, localErrors };
}

/** A cluster client: connects to the relay's inbound port (retrying until the listener is open). */
async function clusterConnect(port: number): Promise<net.Socket> {
  for (let i = 0; ; i++) {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    try {
      await once(socket, 'connect');
      return socket;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function readAll(s: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return once(s, 'end').then(() => Buffer.concat(chunks));
}

t.test('a cluster connection reaches the local server: bytes, half-close and the answer back', async (t) => {
  const localPort = await localServer(t, (s) => {
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    s.on('end', () => s.end(`you said ${Buffer.concat(got)}`));
  });
  const { port, forwarder } = await setup(t, localPort);
  const client = await clusterConnect(port);
  client.end('hello');
  t.equal((await readAll(client)).toString(), 'you said hello');
  t.equal(forwarder.stats.accepted, 1);
});

t.test('more connections at once than parked streams: every one is served', async (t) => {
  const localPort = await localServer(t, (s) => s.pipe(s));
  const { port, forwarder } = await setup(t, localPort);
  const replies = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const c = await clusterConnect(port);
      c.end(`n${i}`);
      return (await readAll(c)).toString();
    }),
  );
  t.same(
    replies,
    Array.from({ length: 40 }, (_, i) => `n${i}`),
  );
  t.equal(forwarder.stats.accepted, 40);
});

t.test('64 MiB each way with backpressure, byte for byte', async (t) => {
  const localPort = await localServer(t, (s) => s.pipe(s));
  const { port } = await setup(t, localPort);
  const payload = randomBytes(64 * 1024 * 1024);
  const c = await clusterConnect(port);
  const back = readAll(c);
  c.end(payload);
  const got = await back;
  t.equal(got.length, payload.length);
  t.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(payload).digest('hex'));
});

t.test('nothing listens on the local port: the cluster client is reset, the laptop is told', async (t) => {
  const closed = net.createServer().listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const unused = (closed.address() as AddressInfo).port;
  closed.close();
  const { port, localErrors } = await setup(t, unused);
  const c = await clusterConnect(port);
  const [err] = (await once(c, 'error')) as [NodeJS.ErrnoException];
  t.equal(err.code, 'ECONNRESET');
  t.same(localErrors, ['ECONNREFUSED']);
});

t.test('a reset from the cluster client resets the local connection', async (t) => {
  let accepted: (s: net.Socket) => void = () => {};
  const gotLocal = new Promise<net.Socket>((resolve) => {
    accepted = resolve;
  });
  const localPort = await localServer(t, (s) => accepted(s));
  const { port } = await setup(t, localPort);
  const c = await clusterConnect(port);
  c.write('x');
  const s = await gotLocal;
  await once(s, 'data');
  c.resetAndDestroy();
  const [err] = (await once(s, 'error')) as [NodeJS.ErrnoException];
  t.equal(err.code, 'ECONNRESET');
});

t.test('the laptop gone: the listener closes after the linger time and refuses', async (t) => {
  const localPort = await localServer(t, (s) => s.pipe(s));
  const { port, forwarder, local } = await setup(t, localPort, { inboundLingerMs: 200, inboundWaitMs: 100 });
  const c = await clusterConnect(port);
  c.end('ping');
  t.equal((await readAll(c)).toString(), 'ping');
  forwarder.close();
  // While it lingers a connection waits for a parked stream, then is reset.
  const waiting = net.connect({ port, host: '127.0.0.1' });
  const [err] = (await once(waiting, 'error')) as [NodeJS.ErrnoException];
  t.equal(err.code, 'ECONNRESET', 'no parked stream in time: reset');
  for (;;) {
    const probe = net.connect({ port, host: '127.0.0.1' });
    const [e] = (await once(probe, 'error')) as [NodeJS.ErrnoException];
    if (e.code === 'ECONNREFUSED') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.pass('then the port refuses');
  t.ok(local.logs.some((l) => l.msg === 'inbound listener closed: nothing parked'));
});

t.test('the relay refuses ports outside the inbound range', async (t) => {
  const local = await startLocalRelay(t);
  const dialer = new TunnelDialer({ transport: local.transport, carriers: 1, carrier: CARRIER });
  t.teardown(() => dialer.destroy());
  await dialer.ready(5000);
  await t.rejects(dialer.accept(8080, new AbortController().signal), { message: /inbound ports are 20000-29999/ });
});

t.test('UDP: each cluster source is a flow to the local port; the first datagram is not lost', async (t) => {
  const local = dgram.createSocket('udp4');
  local.on('message', (msg, from) => local.send(Buffer.from(`echo ${msg}`), from.port, from.address));
  await new Promise<void>((resolve) => local.bind(0, '127.0.0.1', resolve));
  t.teardown(() => local.close());
  const relay = await startLocalRelay(t);
  const dialer = new TunnelDialer({ transport: relay.transport, carriers: 2, carrier: CARRIER });
  t.teardown(() => dialer.destroy());
  await dialer.ready(5000);
  const port = nextPort++;
  const forwarder = new InboundForwarder(dialer, { port, localPort: local.address().port, protocol: 'udp' });
  t.teardown(() => forwarder.close());
  forwarder.start();
  await forwarder.listening;
  const ask = async (client: dgram.Socket, text: string): Promise<string> => {
    const reply = once(client, 'message');
    client.send(text, port, '127.0.0.1');
    return String(((await reply) as [Buffer])[0]);
  };
  const a = dgram.createSocket('udp4');
  const b = dgram.createSocket('udp4');
  t.teardown(() => {
    a.close();
    b.close();
  });
  t.equal(await ask(a, 'a1'), 'echo a1', 'the first datagram of a flow arrives');
  t.equal(await ask(b, 'b1'), 'echo b1', 'a second source: a second flow');
  t.equal(await ask(a, 'a2'), 'echo a2', 'the first source keeps its flow');
  t.equal(forwarder.stats.accepted, 2, 'two flows');
});
