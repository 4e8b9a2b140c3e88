// The server on real sockets: dig over UDP and TCP for every record kind,
// forwarding to the cluster DNS through a Dialer (DNS over TCP, pipelined,
// with a timeout), to upstream servers directly, the bound on forwarded
// queries (local answers are never limited), and the DNS dialer that puts
// the server into the userspace stack's path.
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import t from 'tap';
import { createClusterForwarder } from '../../src/dns/cluster-forwarder.js';
import { type DnsMessage, decodeMessage } from '../../src/dns/codec.js';
import { createDnsDialer } from '../../src/dns/dns-dialer.js';
import { ForwardError } from '../../src/dns/errors.js';
import { DnsServer, type DnsServerOptions } from '../../src/dns/server.js';
import type { Forwarder } from '../../src/dns/tcp-forwarder.js';
import { FrameDecoder, frame } from '../../src/dns/tcp-framing.js';
import { UdpForwarder } from '../../src/dns/udp-forwarder.js';
import { buildZone } from '../../src/dns/zone.js';
import type { DatagramFlow, Dialer, DialRequest } from '../../src/tun/stack/dialer.js';
import { answers, ask, CLIENT, handle, query, rcodeOf, tcpAsk, udpAsk } from './client.js';
import { dig } from './dig.js';
import { LoopbackDialer, startFakeDns } from './fake-dns.js';
import { shopCluster } from './fixtures.js';

function zone(scope: 'all' | string[] = 'all') {
  const s = scope === 'all' ? 'all' : new Set(scope);
  return buildZone({ clusterDomain: 'cluster.local', ...shopCluster(), serviceScope: s, podScope: s });
}

async function listening(t: { teardown(fn: () => unknown): void }, options: Partial<DnsServerOptions> = {}) {
  const server = new DnsServer({ records: { zone: zone() }, ...options });
  t.teardown(() => server.close());
  const udp = await server.listenUdp('127.0.0.1');
  const tcp = await server.listenTcp('127.0.0.1');
  return { server, udpPort: udp.port, tcpPort: tcp.port };
}

t.test('dig gets every record kind over UDP and TCP', async (t) => {
  const { udpPort, tcpPort } = await listening(t);
  const a = await dig('127.0.0.1', udpPort, ['web.shop.svc.cluster.local', 'A']);
  t.equal(a.status, 'NOERROR');
  t.ok(a.flags.includes('aa'), 'authoritative answer');
  t.same(a.answer, ['web.shop.svc.cluster.local. A 10.96.10.1']);
  const tcp = await dig('127.0.0.1', tcpPort, ['+tcp', 'web.shop.svc.cluster.local', 'A']);
  t.same(tcp.answer, a.answer, 'same answer over TCP');
  t.same((await dig('127.0.0.1', udpPort, ['dual.shop.svc.cluster.local', 'AAAA'])).answer, [
    'dual.shop.svc.cluster.local. AAAA fd00:96::3',
  ]);
  t.same(
    (await dig('127.0.0.1', udpPort, ['pg.shop.svc.cluster.local'])).answer,
    ['pg.shop.svc.cluster.local. A 10.244.1.10', 'pg.shop.svc.cluster.local. A 10.244.2.11'],
    'headless: ready endpoints',
  );
  t.same((await dig('127.0.0.1', udpPort, ['pg-1.pg.shop.svc.cluster.local'])).answer, [
    'pg-1.pg.shop.svc.cluster.local. A 10.244.2.11',
  ]);
  t.same((await dig('127.0.0.1', udpPort, ['_http._tcp.web.shop.svc.cluster.local', 'SRV'])).answer, [
    '_http._tcp.web.shop.svc.cluster.local. SRV 0 100 80 web.shop.svc.cluster.local.',
  ]);
  t.same((await dig('127.0.0.1', udpPort, ['-x', '10.96.10.2'])).answer, [
    '2.10.96.10.in-addr.arpa. PTR db.shop.svc.cluster.local.',
  ]);
  t.same((await dig('127.0.0.1', udpPort, ['-x', '10.244.3.3'])).answer, [
    '3.3.244.10.in-addr.arpa. PTR 10-244-3-3.shop.pod.cluster.local.',
  ]);
  t.same((await dig('127.0.0.1', udpPort, ['legacy.shop.svc.cluster.local'])).answer, [
    'db.shop.svc.cluster.local. A 10.96.10.2',
    'legacy.shop.svc.cluster.local. CNAME db.shop.svc.cluster.local.',
  ]);
  const nx = await dig('127.0.0.1', udpPort, ['nope.shop.svc.cluster.local']);
  t.equal(nx.status, 'NXDOMAIN');
  t.match(nx.authority, [
    /^cluster\.local\. SOA ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 5$/,
  ]);
  const nodata = await dig('127.0.0.1', udpPort, ['web.shop.svc.cluster.local', 'TXT']);
  t.equal(nodata.status, 'NOERROR');
  t.same(nodata.answer, []);
  t.equal(nodata.authority.length, 1, 'NODATA carries the SOA');
});

t.test('a large answer: TC over UDP, dig retries over TCP and gets all of it', async (t) => {
  const { service, slice } = await import('./fixtures.js');
  const many = Array.from({ length: 200 }, (_, i) => ({ ip: `10.250.${i >> 8}.${(i & 255) + 1}` }));
  const big = buildZone({
    clusterDomain: 'cluster.local',
    services: [service('big', 'fan', { clusterIP: 'None' })],
    endpointSlices: [slice('big', 'fan', many)],
  });
  const { server, udpPort, tcpPort } = await listening(t, { records: { zone: big } });
  const ignored = await dig('127.0.0.1', udpPort, ['+ignore', '+bufsize=1232', 'fan.big.svc.cluster.local']);
  t.ok(ignored.flags.includes('tc'), 'TC set');
  t.same(ignored.answer, []);
  // dig retries the same port over TCP: point it at a server with both on one port.
  const both = new DnsServer({ records: { zone: big } });
  t.teardown(() => both.close());
  const port = (await both.listenTcp('127.0.0.1')).port;
  await both.listenUdp('127.0.0.1', port);
  const full = await dig('127.0.0.1', port, ['fan.big.svc.cluster.local']);
  t.equal(full.answer.length, 200, 'all 200 records, over TCP');
  t.ok(both.stats().tcpConnections >= 1);
  t.equal(server.stats().truncated, 1);
  t.equal((await tcpAsk(tcpPort, [query('fan.big.svc.cluster.local', 'A')])).length, 1);
});

t.test("TCP: pipelined queries on one connection, answered, then FIN after the client's", async (t) => {
  const { tcpPort } = await listening(t);
  const names = ['web', 'db', 'pg', 'nope'];
  const out = await tcpAsk(
    tcpPort,
    names.map((n, i) => query(`${n}.shop.svc.cluster.local`, 'A', { id: i + 1 })),
  );
  const byId = new Map(out.map((m) => [m.readUInt16BE(0), decodeMessage(m) as DnsMessage]));
  t.equal(byId.size, 4);
  t.same(answers(byId.get(1) as DnsMessage), ['web.shop.svc.cluster.local A 10.96.10.1']);
  t.equal(rcodeOf(byId.get(4) as DnsMessage), 'NXDOMAIN');
});

t.test('forwarding to the cluster DNS through the Dialer over TCP, pipelined on one connection', async (t) => {
  const cluster = new DnsServer({ records: { zone: zone() } });
  t.teardown(() => cluster.close());
  const clusterPort = (await cluster.listenTcp('127.0.0.1')).port;
  const dialer = new LoopbackDialer({ '10.96.0.10:53': clusterPort });
  // We may only watch kube-system (a namespace-scoped user would see even less).
  const server = new DnsServer({
    records: { zone: zone(['kube-system']) },
    clusterForwarder: createClusterForwarder(dialer, '10.96.0.10'),
  });
  t.teardown(() => server.close());
  const r = await ask(server, 'web.shop.svc.cluster.local', 'A', { id: 777 });
  t.equal(r.id, 777, 'the client id is restored');
  t.same(answers(r), ['web.shop.svc.cluster.local A 10.96.10.1'], 'answered by the cluster DNS');
  t.equal(dialer.dials[0]?.destination.address, '10.96.0.10');
  t.equal(dialer.dials[0]?.destination.port, 53);
  const many = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      ask(server, i % 2 ? 'db.shop.svc.cluster.local' : 'nope.shop.svc.cluster.local', 'A'),
    ),
  );
  t.equal(many.filter((m) => rcodeOf(m) === 'NXDOMAIN').length, 25);
  t.equal(dialer.dials.length, 1, '51 queries, one tunnel connection');
  t.equal(cluster.stats().tcpConnections, 1);
  t.match(server.stats(), { forwardedCluster: 51, answeredLocally: 0 });
  // Known-missing names in a namespace we watch do not leave.
  t.equal(rcodeOf(await ask(server, 'nope.kube-system.svc.cluster.local', 'A')), 'NXDOMAIN');
  t.equal(server.stats().forwardedCluster, 51);
});

t.test('a cluster DNS that does not answer: SERVFAIL after the timeout, and the next query redials', async (t) => {
  let answer = false;
  const fake = await startFakeDns(() =>
    answer ? { answers: [{ name: 'x.shop.svc.cluster.local', type: 'A', ttl: 5, data: '10.96.99.1' }] } : 'silent',
  );
  t.teardown(() => fake.close());
  const dialer = new LoopbackDialer({ '10.96.0.10:53': fake.tcpPort });
  const server = new DnsServer({
    records: { zone: zone([]) },
    clusterForwarder: createClusterForwarder(dialer, '10.96.0.10', { timeoutMs: 200 }),
  });
  t.teardown(() => server.close());
  const r = await ask(server, 'x.shop.svc.cluster.local', 'A');
  t.equal(rcodeOf(r), 'SERVFAIL');
  t.equal(server.stats().forwardTimeouts, 1);
  answer = true;
  const again = await ask(server, 'x.shop.svc.cluster.local', 'A');
  t.same(answers(again), ['x.shop.svc.cluster.local A 10.96.99.1']);
  t.equal(dialer.dials.length, 2, 'the silent connection was dropped and redialled');
});

t.test('a dial that fails: SERVFAIL at once', async (t) => {
  const failing: Dialer = {
    dialTcp: async () => {
      throw new Error('relay unreachable');
    },
    openUdp: async () => {
      throw new Error('no');
    },
  };
  const server = new DnsServer({
    records: { zone: zone([]) },
    clusterForwarder: createClusterForwarder(failing, '10.96.0.10'),
  });
  t.teardown(() => server.close());
  t.equal(rcodeOf(await ask(server, 'web.shop.svc.cluster.local', 'A')), 'SERVFAIL');
  t.equal(server.stats().forwardFailures, 1);
});

t.test('names outside the zone go to the upstream servers directly, not through the tunnel', async (t) => {
  const upstream = await startFakeDns((name) => {
    if (name === 'www.example.test') return { answers: [{ name, type: 'A', ttl: 60, data: '192.0.2.7' }] };
    return { rcode: 'NXDOMAIN' };
  });
  t.teardown(() => upstream.close());
  const tunnel = new LoopbackDialer({});
  const server = new DnsServer({
    records: { zone: zone() },
    clusterForwarder: createClusterForwarder(tunnel, '10.96.0.10'),
  });
  t.teardown(() => server.close());
  t.equal(rcodeOf(await ask(server, 'www.example.test', 'A')), 'REFUSED', 'split mode: not ours');
  server.setUpstream(new UdpForwarder({ servers: [{ address: '127.0.0.1', port: upstream.udpPort }] }));
  const r = await ask(server, 'WWW.example.test', 'A');
  t.same(answers(r), ['www.example.test A 192.0.2.7']);
  t.equal(r.questions?.[0]?.name, 'WWW.example.test');
  t.equal(rcodeOf(await ask(server, 'nothing.example.test', 'A')), 'NXDOMAIN');
  t.equal(rcodeOf(await ask(server, 'web.shop', 'A')), 'NXDOMAIN', 'short name tried as-is: answered here');
  t.notOk(
    upstream.asked.some((a) => a.startsWith('web.shop ')),
    'the short name never reached the upstream',
  );
  t.equal(tunnel.dials.length, 0, 'nothing went through the tunnel');
  t.equal(server.stats().forwardedUpstream, 2);
});

t.test(
  'resolv.conf mode, namespace-scoped: "web.shop" tried as-is asks the cluster DNS whether shop is a namespace',
  async (t) => {
    const cluster = new DnsServer({ records: { zone: zone() } });
    t.teardown(() => cluster.close());
    const dialer = new LoopbackDialer({ '10.96.0.10:53': (await cluster.listenTcp('127.0.0.1')).port });
    const upstream = await startFakeDns((name) => ({ answers: [{ name, type: 'A', ttl: 60, data: '203.0.113.66' }] }));
    t.teardown(() => upstream.close());
    const server = new DnsServer({
      records: { zone: zone(['kube-system']) },
      clusterForwarder: createClusterForwarder(dialer, '10.96.0.10'),
      upstream: new UdpForwarder({ servers: [{ address: '127.0.0.1', port: upstream.udpPort }] }),
    });
    t.teardown(() => server.close());
    t.equal(rcodeOf(await ask(server, 'web.shop', 'A')), 'NXDOMAIN', 'shop is a namespace: fail fast');
    t.equal(rcodeOf(await ask(server, 'db.shop', 'AAAA')), 'NXDOMAIN', 'cached: no second probe');
    t.same(
      answers(await ask(server, 'www.example.com', 'A')),
      ['www.example.com A 203.0.113.66'],
      '"com" is not: upstream',
    );
    t.same(answers(await ask(server, 'example.com', 'A')), ['example.com A 203.0.113.66']);
    t.same(
      answers(await ask(server, 'web.kube-system', 'A')),
      ['web.kube-system A 203.0.113.66'],
      'a namespace we watch: no probe, no such Service',
    );
    t.equal(server.stats().namespaceProbes, 2, 'one probe per label');
    t.same(upstream.asked.sort(), ['example.com A udp', 'web.kube-system A udp', 'www.example.com A udp']);
  },
);

t.test('upstream over UDP says TC: the forwarder asks again over TCP on the same address', async (t) => {
  const { default: dgram } = await import('node:dgram');
  const { default: net } = await import('node:net');
  const { encodeMessage } = await import('../../src/dns/codec.js');
  // One port number, UDP answers truncated, TCP answers complete (as real resolvers do).
  const tcpServer = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (let m = decoder.next(); m; m = decoder.next()) {
        const q = decodeMessage(Buffer.from(m));
        const name = q?.questions?.[0]?.name ?? '';
        const answersList = Array.from({ length: 60 }, (_, i) => ({
          name,
          type: 'A' as const,
          ttl: 60,
          data: `192.0.2.${i + 1}`,
        }));
        socket.write(
          frame(
            encodeMessage({
              type: 'response',
              id: q?.id ?? 0,
              flags: 0x8180,
              questions: q?.questions ?? [],
              answers: answersList,
            }),
          ),
        );
      }
    });
  });
  tcpServer.listen(0, '127.0.0.1');
  await once(tcpServer, 'listening');
  const port = (tcpServer.address() as { port: number }).port;
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const q = decodeMessage(msg);
    udp.send(
      encodeMessage({ type: 'response', id: q?.id ?? 0, flags: 0x8380, questions: q?.questions ?? [] }),
      rinfo.port,
      rinfo.address,
    );
  });
  udp.bind(port, '127.0.0.1');
  await once(udp, 'listening');
  t.teardown(() => {
    udp.close();
    tcpServer.close();
  });
  const server = new DnsServer({ records: { zone: zone() } });
  t.teardown(() => server.close());
  server.setUpstreams([{ address: '127.0.0.1', port }]);
  const overTcp = decodeMessage((await handle(server, query('big.example.test', 'A'), 'tcp')) as Buffer);
  t.equal(overTcp?.answers?.length, 60, 'TCP client: the whole answer');
  const overUdp = decodeMessage((await handle(server, query('big.example.test', 'A'), 'udp')) as Buffer);
  t.ok(overUdp?.flag_tc, 'UDP client: TC, so it retries over TCP');
});

t.test('ExternalName outside the zone: CNAME plus the target, resolved through the cluster DNS', async (t) => {
  const fake = await startFakeDns((name, type) =>
    name === 'search.example.net' && type === 'A'
      ? { answers: [{ name, type: 'A', ttl: 30, data: '198.51.100.4' }] }
      : { rcode: 'NXDOMAIN' },
  );
  t.teardown(() => fake.close());
  const server = new DnsServer({
    records: { zone: zone() },
    clusterForwarder: createClusterForwarder(new LoopbackDialer({ '10.96.0.10:53': fake.tcpPort }), '10.96.0.10'),
  });
  t.teardown(() => server.close());
  t.same(answers(await ask(server, 'search.shop.svc.cluster.local', 'A')), [
    'search.example.net A 198.51.100.4',
    'search.shop.svc.cluster.local CNAME search.example.net',
  ]);
  const aaaa = await ask(server, 'search.shop.svc.cluster.local', 'AAAA');
  t.equal(rcodeOf(aaaa), 'NXDOMAIN', 'rcode of the last name in the chain (RFC 6604)');
  t.same(answers(aaaa), ['search.shop.svc.cluster.local CNAME search.example.net']);
  t.equal(server.stats().chased, 2);
});

t.test('local names are answered as fast as they come, all from one address', async (t) => {
  // Regression: a per-client rate limit (5,000 q/s, burst 10,000) capped the whole laptop, whose queries all come from one address.
  const server = new DnsServer({ records: { zone: zone() } });
  t.teardown(() => server.close());
  const bytes = query('web.shop.svc.cluster.local', 'A');
  let answered = 0;
  for (let i = 0; i < 30_000; i++) server.handle(bytes, CLIENT, 'udp', (r) => r && answered++);
  t.equal(answered, 30_000, 'every one answered, synchronously');
  t.match(server.stats(), { answeredLocally: 30_000, droppedOverloaded: 0 });
});

t.test(
  'forwarded queries are bounded in flight: over the bound dropped and counted, local answers unaffected',
  async (t) => {
    const silent = await startFakeDns(() => 'silent');
    t.teardown(() => silent.close());
    const dialer = new LoopbackDialer({ '10.96.0.10:53': silent.tcpPort });
    const server = new DnsServer({
      records: { zone: zone(['kube-system']) },
      clusterForwarder: createClusterForwarder(dialer, '10.96.0.10', { timeoutMs: 300 }),
      maxPendingForwards: 4,
    });
    t.teardown(() => server.close());
    const replies = Array.from({ length: 6 }, (_, i) =>
      handle(server, query(`x${i}.shop.svc.cluster.local`, 'A', { id: i + 1 })),
    );
    t.equal(server.stats().droppedOverloaded, 2, 'two over the bound, dropped at once');
    t.equal(await replies[5], undefined, 'a dropped query gets no answer');
    t.equal(rcodeOf(await ask(server, 'nope.kube-system.svc.cluster.local', 'A')), 'NXDOMAIN', 'local: still answered');
    const settled = await Promise.all(replies.slice(0, 4));
    t.same(
      settled.map((r) => rcodeOf(decodeMessage(r as Buffer) as DnsMessage)),
      ['SERVFAIL', 'SERVFAIL', 'SERVFAIL', 'SERVFAIL'],
      'the four in flight time out',
    );
    const later = await ask(server, 'x9.shop.svc.cluster.local', 'A');
    t.equal(rcodeOf(later), 'SERVFAIL', 'room again once they are done: forwarded (and timed out), not dropped');
    t.equal(server.stats().droppedOverloaded, 2);

    // A forwarder that refuses for its own bound: the same counted drop, not a failure.
    const full: Forwarder = {
      query: () => Promise.reject(new ForwardError('overloaded', 'too many queries in flight')),
      close: () => {},
    };
    const behindFull = new DnsServer({ records: { zone: zone(['kube-system']) }, clusterForwarder: full });
    t.teardown(() => behindFull.close());
    t.equal(await handle(behindFull, query('web.shop.svc.cluster.local', 'A')), undefined);
    t.match(behindFull.stats(), { droppedOverloaded: 1, forwardFailures: 0, servfail: 0 });
  },
);

t.test('the server answers over UDP on a real socket and ignores garbage', async (t) => {
  const { server, udpPort } = await listening(t);
  const r = await udpAsk(udpPort, query('db.shop.svc.cluster.local', 'A'));
  t.same(answers(decodeMessage(r as Buffer) as DnsMessage), ['db.shop.svc.cluster.local A 10.96.10.2']);
  t.equal(await udpAsk(udpPort, Buffer.from('hello'), '127.0.0.1', 200), undefined, 'no answer to garbage');
  t.equal(server.stats().droppedMalformed, 1);
});

function collectFlow(flow: DatagramFlow): () => Promise<Uint8Array> {
  const queue: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  flow.onDatagram((d) => {
    queue.push(d);
    wake?.();
  });
  return async () => {
    while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return queue.shift() as Uint8Array;
  };
}

t.test('DNS dialer: UDP flows and TCP connections to the DNS address are served in process', async (t) => {
  const server = new DnsServer({ records: { zone: zone() } });
  t.teardown(() => server.close());
  const passed: DialRequest[] = [];
  const inner: Dialer = {
    dialTcp: async (r) => {
      passed.push(r);
      throw new Error('inner');
    },
    openUdp: async (r) => {
      passed.push(r);
      throw new Error('inner');
    },
  };
  const dialer = createDnsDialer(inner, server, '10.96.53.53');
  const req = (address: string, port: number): DialRequest => ({
    family: 4,
    destination: { address, port },
    source: { address: '10.96.53.1', port: 5353 },
    signal: new AbortController().signal,
  });

  const flow = await dialer.openUdp(req('10.96.53.53', 53));
  const next = collectFlow(flow);
  t.ok(flow.send(query('web.shop.svc.cluster.local', 'A', { id: 9 })));
  const got = decodeMessage(await next()) as DnsMessage;
  t.equal(got.id, 9);
  t.same(answers(got), ['web.shop.svc.cluster.local A 10.96.10.1']);
  flow.close();

  const conn: Duplex = await dialer.dialTcp(req('10.96.53.53', 53));
  const decoder = new FrameDecoder();
  conn.write(frame(query('pg.shop.svc.cluster.local', 'A', { id: 10 })));
  conn.end();
  const chunks: Buffer[] = [];
  for await (const chunk of conn) chunks.push(chunk as Buffer);
  decoder.push(Buffer.concat(chunks));
  const tcpAnswer = decodeMessage(decoder.next() as Buffer) as DnsMessage;
  t.equal(tcpAnswer.id, 10);
  t.equal(tcpAnswer.answers?.length, 2, "answer, then the connection ends after the client's FIN");

  await t.rejects(dialer.dialTcp(req('10.96.53.53', 80)), { code: 'KVPN_ERR_DIAL_REFUSED' });
  await t.rejects(dialer.dialTcp(req('10.96.10.1', 80)), /inner/);
  await t.rejects(dialer.openUdp(req('10.96.10.1', 53)), /inner/);
  t.same(
    passed.map((r) => `${r.destination.address}:${r.destination.port}`),
    ['10.96.10.1:80', '10.96.10.1:53'],
  );
});

t.test('DNS dialer: both DNS addresses (IPv4 and IPv6) are served, in any IPv6 spelling', async (t) => {
  const server = new DnsServer({ records: { zone: zone() } });
  t.teardown(() => server.close());
  const passed: string[] = [];
  const inner: Dialer = {
    dialTcp: async (r) => {
      passed.push(r.destination.address);
      throw new Error('inner');
    },
    openUdp: async (r) => {
      passed.push(r.destination.address);
      throw new Error('inner');
    },
  };
  const dialer = createDnsDialer(inner, server, ['198.18.0.2', 'fdc7:6b76:706e::2']);
  const req = (address: string, port: number): DialRequest => ({
    family: address.includes(':') ? 6 : 4,
    destination: { address, port },
    source: { address: address.includes(':') ? 'fdc7:6b76:706e::1' : '198.18.0.1', port: 5353 },
    signal: new AbortController().signal,
  });
  for (const address of ['198.18.0.2', 'fdc7:6b76:706e::2', 'FDC7:6B76:706E:0:0:0:0:2']) {
    const flow = await dialer.openUdp(req(address, 53));
    const next = collectFlow(flow);
    t.ok(flow.send(query('web.shop.svc.cluster.local', 'A', { id: 7 })));
    t.same(answers(decodeMessage(await next()) as DnsMessage), ['web.shop.svc.cluster.local A 10.96.10.1'], address);
    flow.close();
  }
  await t.rejects(dialer.dialTcp(req('fdc7:6b76:706e::2', 80)), {
    code: 'KVPN_ERR_DIAL_REFUSED',
    message: /fdc7:6b76:706e::2:80/,
  });
  await t.rejects(dialer.openUdp(req('fdc7:6b76:706e::2', 123)), { code: 'KVPN_ERR_DIAL_UNREACHABLE' });
  await t.rejects(dialer.openUdp(req('fdc7:6b76:706e::3', 53)), /inner/);
  t.same(passed, ['fdc7:6b76:706e::3'], 'the neighbour of the DNS address goes to the tunnel');
});
