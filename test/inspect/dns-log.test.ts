// The DNS view's log, fed by the real DnsServer answering from a real zone:
// what it records for a local answer, an NXDOMAIN that is a typo, a
// forward, and how answers teach the name book.
import t from 'tap';
import { buildZone, DnsServer } from '../../src/dns/index.js';
import { editDistance, likelyMeant, ownerOf, viewResponse } from '../../src/dns/inspect.js';
import { DnsLog } from '../../src/inspect/dns-log.js';
import { NameBook } from '../../src/inspect/name-book.js';
import { CLIENT, query } from '../dns/client.js';
import { shopCluster } from '../dns/fixtures.js';

const zone = buildZone({ clusterDomain: 'cluster.local', ...shopCluster() });

function setup(options: { forwardAnswer?: Buffer } = {}) {
  const names = new NameBook();
  const log = new DnsLog({ names, zone: () => zone, namespace: 'shop' });
  const server = new DnsServer({
    records: { zone },
    observer: log.record,
    ...(options.forwardAnswer
      ? {
          upstream: {
            query: async (q: Uint8Array) => {
              const answer = Buffer.from(options.forwardAnswer as Buffer);
              answer.writeUInt16BE(Buffer.from(q).readUInt16BE(0), 0);
              return answer;
            },
            close() {},
          },
        }
      : {}),
  });
  const ask = (name: string, type: 'A' | 'AAAA' = 'A') =>
    new Promise<Buffer | undefined>((resolve) => server.handle(query(name, type), CLIENT, 'udp', resolve));
  return { names, log, server, ask };
}

t.test('a local answer is recorded with its records, and teaches the name of its address', async (t) => {
  const { log, names, ask } = setup();
  await ask('web.shop.svc.cluster.local');
  const [entry] = log.query().entries;
  t.match(entry, {
    name: 'web.shop.svc.cluster.local',
    type: 'A',
    rcode: 'NOERROR',
    how: 'local',
    transport: 'udp',
    answers: ['A 10.96.10.1'],
    didYouMean: null,
  });
  t.ok((entry?.latencyMs ?? -1) >= 0);
  t.equal(names.nameOf('10.96.10.1'), 'web.shop.svc.cluster.local');
  t.equal(log.version, 1);
});

t.test('an NXDOMAIN one or two characters from a Service names it', async (t) => {
  const { log, ask } = setup();
  await ask('wbe.shop.svc.cluster.local');
  await ask('nothing-like-it.shop.svc.cluster.local');
  const [unknown, typo] = log.query().entries;
  t.match(typo, { name: 'wbe.shop.svc.cluster.local', rcode: 'NXDOMAIN', didYouMean: 'web.shop' });
  t.match(unknown, { rcode: 'NXDOMAIN', didYouMean: null });
  t.equal(log.query({ rcode: 'NXDOMAIN' }).matched, 2);
  t.equal(log.query({ text: 'wbe' }).matched, 1);
});

t.test('a forwarded query says who answered', async (t) => {
  const upstream = Buffer.from(
    '0000818000010001000000000765786' + '16d706c65036e65740000010001c00c000100010000003c00045db8d822',
    'hex',
  );
  const { log, ask } = setup({ forwardAnswer: upstream });
  await ask('example.net');
  t.match(log.query().entries[0], {
    name: 'example.net',
    how: 'upstream',
    rcode: 'NOERROR',
    answers: ['A 93.184.216.34'],
  });
});

t.test('the ring keeps the newest and counts what it dropped', async (t) => {
  const names = new NameBook();
  const log = new DnsLog({ names, namespace: 'shop', capacity: 3 });
  for (let i = 0; i < 5; i++)
    log.record({
      at: i,
      name: `n${i}.example`,
      type: 1,
      transport: 'udp',
      how: 'upstream',
      response: undefined,
      latencyMs: 1,
    });
  const page = log.query();
  t.same(
    page.entries.map((e) => e.name),
    ['n4.example', 'n3.example', 'n2.example'],
  );
  t.match(page, { total: 5, dropped: 2, matched: 3 });
  t.equal(page.entries[0]?.rcode, 'dropped', 'no response: dropped');
});

t.test('owners of addresses, from the zone', async (t) => {
  t.same(ownerOf(zone, '10.96.10.1'), { kind: 'service', name: 'web', namespace: 'shop' });
  t.same(ownerOf(zone, '10.244.1.10'), { kind: 'endpoint', name: 'pg', namespace: 'shop' });
  t.match(ownerOf(zone, '10.244.3.3'), { kind: 'pod', namespace: 'shop' });
  t.equal(ownerOf(zone, '192.0.2.1'), undefined);
  t.equal(ownerOf(zone, 'not an address'), undefined);
});

t.test('typo hints: short names, ties and distances', async (t) => {
  t.equal(likelyMeant(zone, 'wbe', 'shop'), 'web.shop', 'a short name is searched in the namespace');
  t.equal(likelyMeant(zone, 'web.shpo', 'default'), 'web.shop');
  t.equal(likelyMeant(zone, 'web.shop', 'shop'), undefined, 'it exists');
  t.equal(likelyMeant(zone, 'a.b.c.d.cluster.local', 'shop'), undefined);
  t.equal(likelyMeant(zone, 'dbx.shop', 'shop'), 'db.shop');
  t.equal(editDistance('kitten', 'sitting'), 3);
  t.equal(editDistance('wbe', 'web'), 1, 'a swap is one edit');
  t.equal(editDistance('kitten', 'sitting', 2), 2, 'stops at the limit');
  t.equal(editDistance('', 'ab'), 2);
});

t.test('responses that do not decode are not answers', async (t) => {
  t.equal(viewResponse(Buffer.alloc(5)), undefined);
  t.equal(viewResponse(Buffer.alloc(40, 0xff)), undefined);
});
