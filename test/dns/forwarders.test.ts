// Forwarders in their corners: the upstream forwarder's failover, spoof
// checks and bounds; the TCP forwarder redialling a connection that closed
// under its queries; a TCP connection that stops taking queries while its
// reader does not read, and closes when idle.
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import t from 'tap';
import { decodeMessage, encodeMessage } from '../../src/dns/codec.js';
import { DnsServer } from '../../src/dns/server.js';
import { DnsTcpConnection } from '../../src/dns/tcp-connection.js';
import { DnsTcpForwarder } from '../../src/dns/tcp-forwarder.js';
import { FrameDecoder, frame } from '../../src/dns/tcp-framing.js';
import { UdpForwarder } from '../../src/dns/udp-forwarder.js';
import { buildZone } from '../../src/dns/zone.js';
import { query } from './client.js';
import { startFakeDns } from './fake-dns.js';
import { shopCluster } from './fixtures.js';

t.test('upstream: a silent server is skipped for the next one', async (t) => {
  const silent = dgram.createSocket('udp4');
  silent.bind(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => silent.close());
  const good = await startFakeDns((name) => ({ answers: [{ name, type: 'A', ttl: 60, data: '192.0.2.9' }] }));
  t.teardown(() => good.close());
  const f = new UdpForwarder({
    servers: [
      { address: '127.0.0.1', port: silent.address().port },
      { address: '127.0.0.1', port: good.udpPort },
    ],
    timeoutMs: 150,
  });
  t.teardown(() => f.close());
  const answer = decodeMessage(await f.query(query('www.example.test', 'A')));
  t.equal((answer?.answers?.[0] as { data?: string } | undefined)?.data, '192.0.2.9');
  t.same(f.servers, [
    { address: '127.0.0.1', port: silent.address().port },
    { address: '127.0.0.1', port: good.udpPort },
  ]);
});

t.test('upstream: answers with the wrong id, question or source are ignored; all silent → timeout', async (t) => {
  const liar = dgram.createSocket('udp4');
  liar.on('message', (msg, rinfo) => {
    const q = decodeMessage(msg);
    // Right id, wrong question; then a wrong id.
    liar.send(
      encodeMessage({
        type: 'response',
        id: q?.id ?? 0,
        flags: 0x8180,
        questions: [{ name: 'evil.example', type: 'A' }],
      }),
      rinfo.port,
      rinfo.address,
    );
    liar.send(
      encodeMessage({
        type: 'response',
        id: ((q?.id ?? 0) + 1) & 0xffff,
        flags: 0x8180,
        questions: q?.questions ?? [],
      }),
      rinfo.port,
      rinfo.address,
    );
  });
  liar.bind(0, '127.0.0.1');
  await once(liar, 'listening');
  t.teardown(() => liar.close());
  const f = new UdpForwarder({
    servers: [{ address: '127.0.0.1', port: liar.address().port }],
    timeoutMs: 100,
    attempts: 2,
  });
  t.teardown(() => f.close());
  await t.rejects(f.query(query('www.example.test', 'A')), { code: 'KVPN_ERR_DNS_FORWARD_TIMEOUT' });
  await t.rejects(new UdpForwarder({ servers: [] }).query(query('a.test', 'A')), { code: 'KVPN_ERR_DNS_FORWARD' });
  await t.rejects(f.query(Buffer.alloc(12)), { message: /without a question/ });
  const closing = f.query(query('www.example.test', 'A'));
  f.close();
  await t.rejects(closing, { code: 'KVPN_ERR_DNS_FORWARD' });
});

t.test('TCP forwarder: a connection closed with queries outstanding is redialled once for them', async (t) => {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (let m = decoder.next(); m; m = decoder.next()) {
        // The first connection closes without answering; the second answers.
        if (connections === 1) return socket.destroy();
        const q = decodeMessage(Buffer.from(m));
        socket.write(
          frame(encodeMessage({ type: 'response', id: q?.id ?? 0, flags: 0x8180, questions: q?.questions ?? [] })),
        );
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const f = new DnsTcpForwarder({
    label: 'test',
    timeoutMs: 1000,
    maxInFlight: 2,
    connect: async () => {
      const s = net.connect(port, '127.0.0.1');
      await once(s, 'connect');
      return s;
    },
  });
  t.teardown(() => f.close());
  const answer = await f.query(query('web.shop.svc.cluster.local', 'A'));
  t.equal(decodeMessage(answer)?.flag_qr, true);
  t.equal(connections, 2, 'redialled');
  const a = f.query(query('a.test', 'A'));
  const b = f.query(query('b.test', 'A'));
  await t.rejects(f.query(query('c.test', 'A')), { message: /too many queries in flight/ }, 'bounded');
  await Promise.all([a, b]);
  t.equal(f.inFlight, 0);
  f.close();
  await t.rejects(f.query(query('d.test', 'A')), { message: /closed/ });
});

t.test(
  'TCP connection: no more queries are taken while the reader does not read; idle connections close',
  async (t) => {
    const server = new DnsServer({
      records: { zone: buildZone({ clusterDomain: 'cluster.local', ...shopCluster() }) },
    });
    t.teardown(() => server.close());
    const connection = new DnsTcpConnection(
      server.handle,
      { address: '10.1.0.2', port: 1 },
      { maxInFlight: 4, idleTimeoutMs: 100 },
    );
    connection.pause();
    // Enough answers to fill the readable buffer (16 KiB high-water mark).
    const q = frame(query('pg.shop.svc.cluster.local', 'ANY'));
    let accepted = 0;
    for (let i = 0; i < 2000; i++) if (connection.write(q)) accepted++;
    t.ok(accepted < 2000, 'write() said stop');
    const before = server.stats().queries;
    await new Promise((resolve) => setImmediate(resolve));
    t.equal(server.stats().queries, before, 'nothing more answered while nobody reads');
    const decoder = new FrameDecoder();
    let answers = 0;
    connection.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      while (decoder.next()) answers++;
    });
    connection.resume();
    connection.end();
    await once(connection, 'end');
    t.equal(answers, 2000, 'every query answered once the reader reads');

    // The connection's idle timer does not hold the process open (its socket does); here nothing else would.
    const keepAlive = setInterval(() => {}, 1000);
    t.teardown(() => clearInterval(keepAlive));
    const idle = new DnsTcpConnection(server.handle, { address: '10.1.0.2', port: 2 }, { idleTimeoutMs: 50 });
    idle.resume();
    await once(idle, 'end');
    t.pass('an idle connection ends its side');
    await once(idle, 'close');
    t.ok(idle.destroyed, 'and is closed a period later');
  },
);
