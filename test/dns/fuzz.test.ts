// A million random and mutated queries through the server: it never
// throws, every reply is a well-formed DNS message with the query's id,
// and FORMERR comes exactly where the query is malformed (judged by an
// oracle built on dns-packet's full decode plus RFC 1035/6891 rules).
// Seeded, so a failure reproduces.
import t from 'tap';
import { decodeMessage } from '../../src/dns/codec.js';
import { DnsServer } from '../../src/dns/server.js';
import { buildZone } from '../../src/dns/zone.js';
import { query } from './client.js';
import { shopCluster } from './fixtures.js';

const TOTAL = Number(process.env.KVPN_DNS_FUZZ ?? 1_000_000);

/** xorshift32: deterministic bytes. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const NAMES = [
  'web.shop.svc.cluster.local',
  'pg-0.pg.shop.svc.cluster.local',
  '_http._tcp.web.shop.svc.cluster.local',
  'legacy.shop.svc.cluster.local',
  'nope.shop.svc.cluster.local',
  '1.10.96.10.in-addr.arpa',
  'web.shop',
  'www.example.test',
  'cluster.local',
  '',
];
const TYPES = ['A', 'AAAA', 'SRV', 'PTR', 'CNAME', 'SOA', 'TXT', 'ANY', 'NS'] as const;

/** What a correct server must answer: 'drop', 'formerr', 'notimp' or 'answer'. */
function expected(q: Buffer): 'drop' | 'formerr' | 'notimp' | 'answer' {
  if (q.length < 12 || (q[2] ?? 0) & 0x80) return 'drop';
  if ((((q[2] ?? 0) >> 3) & 0xf) !== 0) return 'notimp';
  if (q.readUInt16BE(4) !== 1) return 'formerr';
  const decoded = decodeMessage(q);
  if (!decoded) return 'formerr';
  // The first question's name may not use a pointer (nothing before it to point at).
  let o = 12;
  while (o < q.length && q[o] !== 0) {
    if (((q[o] ?? 0) & 0xc0) !== 0) return 'formerr';
    o += (q[o] ?? 0) + 1;
  }
  if (q.readUInt16BE(o + 1) === 41) return 'formerr';
  const opts = [...(decoded.answers ?? []), ...(decoded.authorities ?? [])].filter((r) => r.type === 'OPT');
  const addOpts = (decoded.additionals ?? []).filter((r) => r.type === 'OPT');
  if (opts.length > 0 || addOpts.length > 1 || addOpts.some((r) => r.name !== '.')) return 'formerr';
  return 'answer';
}

t.test(`${TOTAL.toLocaleString('en-US')} random and mutated queries: no crash, FORMERR where due`, async (t) => {
  const zone = buildZone({ clusterDomain: 'cluster.local', ...shopCluster() });
  const server = new DnsServer({ records: { zone } });
  t.teardown(() => server.close());
  const random = rng(0x6b76706e);
  const byte = () => Math.floor(random() * 256);
  const valid = Array.from({ length: 200 }, (_, i) =>
    query(NAMES[i % NAMES.length] ?? '', TYPES[i % TYPES.length] ?? 'A', {
      id: i,
      ...(i % 3 === 0 ? { edns: 512 + i } : {}),
    }),
  );
  const seen = { drop: 0, formerr: 0, notimp: 0, answer: 0 };
  const failures: string[] = [];
  let reply: Buffer | undefined;
  let replied = false;
  const capture = (r: Buffer | undefined) => {
    reply = r;
    replied = true;
  };
  for (let n = 0; n < TOTAL && failures.length < 5; n++) {
    const base = valid[Math.floor(random() * valid.length)] as Buffer;
    let q: Buffer;
    const kind = Math.floor(random() * 5);
    if (kind === 0) {
      q = Buffer.from(Array.from({ length: Math.floor(random() * 64) }, byte));
    } else if (kind === 1) {
      q = Buffer.from(base);
      for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) q[Math.floor(random() * q.length)] = byte();
    } else if (kind === 2) {
      q = base.subarray(0, Math.floor(random() * base.length));
    } else if (kind === 3) {
      q = Buffer.concat([base, Buffer.from(Array.from({ length: 1 + Math.floor(random() * 20) }, byte))]);
      q.writeUInt16BE(Math.floor(random() * 3), 6 + 2 * Math.floor(random() * 3));
    } else {
      q = Buffer.from(base);
      q[2] = (q[2] ?? 0) & 0x7f; // a query
    }
    const want = expected(q);
    seen[want]++;
    replied = false;
    reply = undefined;
    try {
      server.handle(q, { address: '10.1.0.2', port: 5000 }, n % 2 ? 'udp' : 'tcp', capture);
    } catch (err) {
      failures.push(`threw ${(err as Error).message} on ${q.toString('hex')}`);
      continue;
    }
    if (!replied) {
      failures.push(`no synchronous reply for ${q.toString('hex')}`);
      continue;
    }
    const r = reply as Buffer | undefined;
    if (want === 'drop') {
      if (r) failures.push(`answered a message that must be dropped: ${q.toString('hex')}`);
      continue;
    }
    if (!r) {
      failures.push(`dropped ${want}: ${q.toString('hex')}`);
      continue;
    }
    if (r.readUInt16BE(0) !== q.readUInt16BE(0) || ((r[2] ?? 0) & 0x80) === 0 || !decodeMessage(r)) {
      failures.push(`bad reply ${r.toString('hex')} to ${q.toString('hex')}`);
      continue;
    }
    const rcode = (r[3] ?? 0) & 0xf;
    const ok =
      want === 'formerr' ? rcode === 1 : want === 'notimp' ? rcode === 4 : rcode === 0 || rcode === 3 || rcode === 5;
    if (!ok) failures.push(`expected ${want}, got rcode ${rcode}: ${q.toString('hex')}`);
  }
  t.same(failures, [], 'every reply as it should be');
  t.ok(
    seen.formerr > TOTAL / 20 && seen.answer > TOTAL / 20 && seen.drop > 0 && seen.notimp > 0,
    'all kinds exercised',
  );
  const stats = server.stats();
  t.equal(stats.formerr, seen.formerr, 'FORMERR counted');
  t.equal(stats.droppedMalformed, seen.drop, 'drops counted');
  t.comment(`kinds: ${JSON.stringify(seen)}`);
});
