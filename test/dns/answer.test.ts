// The answering core, through DnsServer.handle with no sockets: each test
// is a query and the answer Kubernetes DNS would give.
import t from 'tap';
import { clusterAddressesOf } from '../../src/dns/answer.js';
import { decodeMessage, encodeMessage } from '../../src/dns/codec.js';
import { DnsServer } from '../../src/dns/server.js';
import { buildZone } from '../../src/dns/zone.js';
import { answers, ask, handle, query, rcodeOf } from './client.js';
import { shopCluster } from './fixtures.js';

const rcode = (response: Buffer | undefined) => (response?.[3] ?? -1) & 0xf;

function server(opts: { scope?: 'all' | string[] } = {}): DnsServer {
  const scope = opts.scope === undefined || opts.scope === 'all' ? 'all' : new Set(opts.scope);
  const zone = buildZone({ clusterDomain: 'cluster.local', ...shopCluster(), serviceScope: scope, podScope: scope });
  return new DnsServer({ records: { zone } });
}

t.test('ClusterIP Service: A, AAAA NODATA with SOA, and case preserved in the question', async (t) => {
  const s = server();
  const a = await ask(s, 'Web.Shop.svc.Cluster.Local', 'A');
  t.equal(rcodeOf(a), 'NOERROR');
  t.ok(a.flag_aa, 'authoritative');
  t.ok(a.flag_qr && a.flag_rd && a.flag_ra);
  t.equal(a.id, 4242);
  t.equal(a.questions?.[0]?.name, 'Web.Shop.svc.Cluster.Local', 'question echoed byte for byte');
  t.same(answers(a), ['web.shop.svc.cluster.local A 10.96.10.1']);
  t.equal((a.answers?.[0] as { ttl?: number } | undefined)?.ttl, 5, 'TTL 5 s');
  const aaaa = await ask(s, 'web.shop.svc.cluster.local', 'AAAA');
  t.equal(rcodeOf(aaaa), 'NOERROR', 'the name exists: NODATA, not NXDOMAIN');
  t.same(answers(aaaa), []);
  t.same(answers(aaaa, 'authorities'), ['cluster.local SOA ns.dns.cluster.local']);
  const dual = await ask(s, 'dual.shop.svc.cluster.local', 'AAAA');
  t.same(answers(dual), ['dual.shop.svc.cluster.local AAAA fd00:96::3'], 'dual-stack ClusterIPs');
});

t.test('headless Service: ready endpoint IPs, per-endpoint hostnames, SRV per endpoint', async (t) => {
  const s = server();
  t.same(
    answers(await ask(s, 'pg.shop.svc.cluster.local', 'A')),
    ['pg.shop.svc.cluster.local A 10.244.1.10', 'pg.shop.svc.cluster.local A 10.244.2.11'],
    'the not-ready pg-2 is left out',
  );
  t.same(answers(await ask(s, 'pg-0.pg.shop.svc.cluster.local', 'A')), [
    'pg-0.pg.shop.svc.cluster.local A 10.244.1.10',
  ]);
  t.equal(rcodeOf(await ask(s, 'pg-2.pg.shop.svc.cluster.local', 'A')), 'NXDOMAIN', 'not-ready endpoint has no name');
  t.same(answers(await ask(s, '_postgres._tcp.pg.shop.svc.cluster.local', 'SRV')), [
    '_postgres._tcp.pg.shop.svc.cluster.local SRV 0 50 5432 pg-0.pg.shop.svc.cluster.local',
    '_postgres._tcp.pg.shop.svc.cluster.local SRV 0 50 5432 pg-1.pg.shop.svc.cluster.local',
  ]);
});

t.test('SRV for named ports of a ClusterIP Service; _tcp is an empty non-terminal', async (t) => {
  const s = server();
  t.same(answers(await ask(s, '_http._tcp.web.shop.svc.cluster.local', 'SRV')), [
    '_http._tcp.web.shop.svc.cluster.local SRV 0 100 80 web.shop.svc.cluster.local',
  ]);
  t.same(answers(await ask(s, '_dns._udp.kube-dns.kube-system.svc.cluster.local', 'SRV')), [
    '_dns._udp.kube-dns.kube-system.svc.cluster.local SRV 0 100 53 kube-dns.kube-system.svc.cluster.local',
  ]);
  const ent = await ask(s, '_tcp.web.shop.svc.cluster.local', 'A');
  t.equal(rcodeOf(ent), 'NOERROR', 'empty non-terminal: NODATA');
  t.equal(rcodeOf(await ask(s, '_nope._tcp.web.shop.svc.cluster.local', 'SRV')), 'NXDOMAIN');
});

t.test('PTR for ClusterIPs, headless endpoints and plain pods', async (t) => {
  const s = server();
  t.same(answers(await ask(s, '1.10.96.10.in-addr.arpa', 'PTR')), [
    '1.10.96.10.in-addr.arpa PTR web.shop.svc.cluster.local',
  ]);
  t.same(
    answers(await ask(s, '10.1.244.10.in-addr.arpa', 'PTR')),
    ['10.1.244.10.in-addr.arpa PTR pg-0.pg.shop.svc.cluster.local'],
    'endpoint name wins over the pod name',
  );
  t.same(answers(await ask(s, '3.3.244.10.in-addr.arpa', 'PTR')), [
    '3.3.244.10.in-addr.arpa PTR 10-244-3-3.shop.pod.cluster.local',
  ]);
  t.same(answers(await ask(s, '10-244-3-3.shop.pod.cluster.local', 'A')), [
    '10-244-3-3.shop.pod.cluster.local A 10.244.3.3',
  ]);
  t.same(answers(await ask(s, '3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa', 'PTR')), [
    '3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa PTR dual.shop.svc.cluster.local',
  ]);
  t.equal(rcodeOf(await ask(s, '9.9.9.9.in-addr.arpa', 'PTR')), 'REFUSED', 'split mode, no upstream: not ours');
});

t.test('ExternalName: CNAME, followed inside the zone', async (t) => {
  const s = server();
  t.same(answers(await ask(s, 'legacy.shop.svc.cluster.local', 'A')), [
    'db.shop.svc.cluster.local A 10.96.10.2',
    'legacy.shop.svc.cluster.local CNAME db.shop.svc.cluster.local',
  ]);
  t.same(answers(await ask(s, 'legacy.shop.svc.cluster.local', 'CNAME')), [
    'legacy.shop.svc.cluster.local CNAME db.shop.svc.cluster.local',
  ]);
  // No forwarder here: the CNAME alone (the client can chase it).
  t.same(answers(await ask(s, 'search.shop.svc.cluster.local', 'A')), [
    'search.shop.svc.cluster.local CNAME search.example.net',
  ]);
});

t.test('NXDOMAIN with an SOA for unknown names in a namespace we see whole', async (t) => {
  const s = server();
  const nx = await ask(s, 'nosuch.shop.svc.cluster.local', 'A');
  t.equal(rcodeOf(nx), 'NXDOMAIN');
  t.ok(nx.flag_aa);
  t.same(answers(nx, 'authorities'), ['cluster.local SOA ns.dns.cluster.local']);
  t.equal(rcodeOf(await ask(s, 'web.nosuchns.svc.cluster.local', 'A')), 'NXDOMAIN', 'all namespaces watched');
  t.equal(rcodeOf(await ask(s, 'cluster.local', 'A')), 'NOERROR', 'the apex exists');
  t.same(answers(await ask(s, 'cluster.local', 'SOA')), ['cluster.local SOA ns.dns.cluster.local']);
  t.equal(rcodeOf(await ask(s, 'svc.cluster.local', 'A')), 'NOERROR');
  t.equal(
    rcodeOf(await ask(s, 'w\\.eb.shop.svc.cluster.local', 'A')),
    'NXDOMAIN',
    'a dot inside a label matches nothing',
  );
});

t.test('short names tried as-is (web.shop) fail fast instead of leaving for the Internet', async (t) => {
  const s = server();
  const r = await ask(s, 'web.shop', 'A');
  t.equal(rcodeOf(r), 'NXDOMAIN');
  t.equal(rcodeOf(await ask(s, 'pg-0.pg.shop', 'A')), 'NXDOMAIN');
  t.equal(rcodeOf(await ask(s, 'www.example.shop', 'A')), 'REFUSED', 'not a Service: not ours');
});

t.test('EDNS0: OPT echoed, BADVERS for version 1, TC over UDP when too large and full over TCP', async (t) => {
  const s = server();
  const withOpt = await ask(s, 'web.shop.svc.cluster.local', 'A', { edns: 4096 });
  const opt = withOpt.additionals?.find((rr) => rr.type === 'OPT') as { udpPayloadSize: number } | undefined;
  t.equal(opt?.udpPayloadSize, 1232, 'we advertise 1232');
  const v1 = query('web.shop.svc.cluster.local', 'A', { edns: 1232 });
  v1[v1.length - 5] = 1; // OPT TTL byte 2: version
  const bad = decodeMessage((await handle(s, v1)) as Buffer);
  const badOpt = bad?.additionals?.find((rr) => rr.type === 'OPT') as { extendedRcode: number } | undefined;
  t.equal(badOpt?.extendedRcode, 1, 'BADVERS = extended rcode 1, header rcode 0');

  // A headless Service with 50 endpoints does not fit in 512 bytes.
  const many = Array.from({ length: 50 }, (_, i) => ({ ip: `10.250.0.${i + 1}` }));
  const { service, slice } = await import('./fixtures.js');
  const zone = buildZone({
    clusterDomain: 'cluster.local',
    services: [service('big', 'fan', { clusterIP: 'None' })],
    endpointSlices: [slice('big', 'fan', many)],
  });
  const big = new DnsServer({ records: { zone } });
  const udp = decodeMessage((await handle(big, query('fan.big.svc.cluster.local', 'A'), 'udp')) as Buffer);
  t.ok(udp?.flag_tc, 'TC over UDP');
  t.equal(udp?.answers?.length, 0);
  const tcp = decodeMessage((await handle(big, query('fan.big.svc.cluster.local', 'A'), 'tcp')) as Buffer);
  t.notOk(tcp?.flag_tc);
  t.equal(tcp?.answers?.length, 50, 'the full answer over TCP');
  const edns = decodeMessage(
    (await handle(big, query('fan.big.svc.cluster.local', 'A', { edns: 4096 }), 'udp')) as Buffer,
  );
  t.notOk(edns?.flag_tc, '50 A records fit in 1232 bytes');
  t.equal(edns?.answers?.length, 50);
  t.equal(big.stats().truncated, 1);
});

t.test('malformed queries: FORMERR or dropped, and counted', async (t) => {
  const s = server();
  t.equal(await handle(s, Buffer.from([1, 2, 3])), undefined, 'shorter than a header: dropped');
  const good = query('web.shop.svc.cluster.local', 'A');
  const asResponse = Buffer.from(good);
  asResponse[2] = (asResponse[2] ?? 0) | 0x80;
  t.equal(await handle(s, asResponse), undefined, 'a response is never answered');
  const cut = await handle(s, good.subarray(0, good.length - 3));
  t.equal(rcode(cut), 1, 'truncated question: FORMERR');
  t.equal(cut?.readUInt16BE(0), 4242, 'with the id');
  const pointer = Buffer.from(good);
  pointer[12] = 0xc0;
  t.equal(rcode(await handle(s, pointer)), 1, 'compression pointer in the question: FORMERR');
  const two = Buffer.from(good);
  two.writeUInt16BE(2, 4);
  t.equal(rcode(await handle(s, two)), 1, 'two questions: FORMERR');
  const notify = Buffer.from(good);
  notify[2] = (4 << 3) | ((notify[2] ?? 0) & 0x07);
  t.equal(rcode(await handle(s, notify)), 4, 'NOTIFY opcode: NOTIMP');
  const junkOpt = Buffer.concat([good, Buffer.from([0])]);
  junkOpt.writeUInt16BE(1, 10);
  t.equal(rcode(await handle(s, junkOpt)), 1, 'ARCOUNT 1 with a broken record: FORMERR');
  t.equal(rcode(await handle(s, query('cluster.local', 'AXFR'))), 5, 'AXFR refused');
  t.match(s.stats(), { droppedMalformed: 2, formerr: 4, notimp: 1, refused: 1 });
});

t.test('a namespace we cannot see is not ours to deny', async (t) => {
  const s = server({ scope: ['kube-system'] });
  t.equal(
    rcodeOf(await ask(s, 'web.shop.svc.cluster.local', 'A')),
    'NXDOMAIN',
    'no forwarder: NXDOMAIN as the last word',
  );
  t.equal(rcodeOf(await ask(s, 'nosuch.kube-system.svc.cluster.local', 'A')), 'NXDOMAIN');
});

t.test('addresses in a forwarded answer: only records owned by zone names, each as a Service or a pod', async (t) => {
  const message = decodeMessage(
    encodeMessage({
      type: 'response',
      id: 1,
      answers: [
        { name: 'web.shop.svc.cluster.local', type: 'A', ttl: 5, data: '10.100.3.4' },
        { name: 'Dual.Shop.svc.cluster.local.', type: 'AAAA', ttl: 5, data: 'fd00:96::3' },
        { name: '10-244-7-2.shop.pod.cluster.local', type: 'A', ttl: 5, data: '10.244.7.2' },
        { name: 'search.shop.svc.cluster.local', type: 'CNAME', ttl: 5, data: 'search.example.net' },
        { name: 'search.example.net', type: 'A', ttl: 60, data: '203.0.113.9' },
      ],
    }),
  );
  t.same(clusterAddressesOf(message as NonNullable<typeof message>, 'cluster.local'), [
    { name: 'web.shop.svc.cluster.local', address: '10.100.3.4', kind: 'service' },
    { name: 'dual.shop.svc.cluster.local', address: 'fd00:96::3', kind: 'service' },
    { name: '10-244-7-2.shop.pod.cluster.local', address: '10.244.7.2', kind: 'pod' },
  ]);
});
