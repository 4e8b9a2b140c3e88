// The relay's listeners on both IP families: one dual-stack socket takes
// IPv4 and IPv6 clients (a pod of an IPv6-only cluster has no IPv4 address
// to reach), peers are named without the ::ffff: prefix, and a pod without
// IPv6 falls back to IPv4 alone.
import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import t from 'tap';
import { bindUdpAllFamilies, listenAllFamilies, peerName, unmappedAddress } from '../../src/relay/server/listen.js';

function connectOnce(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => {
      s.end();
      resolve();
    });
    s.once('error', reject);
  });
}

t.test('one listener takes IPv4 and IPv6 clients; peers are named as before', async (t) => {
  const peers: string[] = [];
  const server = net.createServer((s) => {
    peers.push(peerName(s).replace(/:\d+$/, ''));
    s.resume();
    s.on('end', () => s.end());
  });
  t.teardown(() => server.close());
  await listenAllFamilies(server, 0);
  const { port } = server.address() as net.AddressInfo;
  await connectOnce('127.0.0.1', port);
  await connectOnce('::1', port);
  t.same(peers, ['127.0.0.1', '::1']);
});

t.test('no IPv6 in the pod: the listener binds 0.0.0.0', async (t) => {
  const tried: (string | undefined)[] = [];
  const fake = new EventEmitter() as EventEmitter & { listen: (o: net.ListenOptions, cb: () => void) => void };
  fake.listen = (options, cb) => {
    tried.push(options.host);
    if (options.host === '::') {
      const err = Object.assign(new Error('listen EAFNOSUPPORT'), { code: 'EAFNOSUPPORT' });
      queueMicrotask(() => fake.emit('error', err));
    } else queueMicrotask(cb);
  };
  await listenAllFamilies(fake as unknown as net.Server, 8080);
  t.same(tried, ['::', '0.0.0.0']);
  t.equal(fake.listenerCount('error'), 0, 'no error listener left behind');
});

t.test('other listen errors (a port in use) are not hidden by the fallback', async (t) => {
  const first = net.createServer();
  t.teardown(() => first.close());
  await listenAllFamilies(first, 0);
  const { port } = first.address() as net.AddressInfo;
  const second = net.createServer();
  await t.rejects(listenAllFamilies(second, port), { code: 'EADDRINUSE' });
});

t.test('unmappedAddress: only IPv4-mapped addresses lose their prefix', async (t) => {
  t.equal(unmappedAddress('::ffff:10.244.0.5'), '10.244.0.5');
  t.equal(unmappedAddress('fd00:10:244::5'), 'fd00:10:244::5');
  t.equal(unmappedAddress('::ffff:a05'), '::ffff:a05');
  t.equal(unmappedAddress(undefined), undefined);
});

t.test('UDP: one socket gets datagrams from IPv4 and IPv6 senders and answers both', async (t) => {
  const seen: string[] = [];
  const socket = await bindUdpAllFamilies(0, (msg, from) => {
    seen.push(`${peerName({ remoteAddress: from.address, remotePort: from.port }).replace(/:\d+$/, '')} ${msg}`);
    socket.send(msg, from.port, from.address);
  });
  t.teardown(() => socket.close());
  const { port } = socket.address();
  for (const [type, host] of [
    ['udp4', '127.0.0.1'],
    ['udp6', '::1'],
  ] as const) {
    const client = dgram.createSocket(type);
    const reply = once(client, 'message');
    client.send(type, port, host);
    t.equal(String((await reply)[0]), type, `${type} answered`);
    client.close();
  }
  t.same(seen, ['127.0.0.1 udp4', '::1 udp6'], 'senders named as before');
});

t.test('UDP: other bind errors (a port in use) are not hidden by the fallback', async (t) => {
  const first = await bindUdpAllFamilies(0, () => undefined);
  t.teardown(() => first.close());
  await t.rejects(
    bindUdpAllFamilies(first.address().port, () => undefined),
    { code: 'EADDRINUSE' },
  );
});
