import t from 'tap';
import { parseIp } from '../../../src/net/ip.js';
import { entryHash, type FlowEntry, FlowTable, flowHash } from '../../../src/tun/stack/flow-table.js';

class Entry implements FlowEntry<Entry> {
  hash: number;
  nextInBucket: Entry | null = null;
  constructor(
    readonly localAddr: Uint8Array,
    readonly localPort: number,
    readonly remoteAddr: Uint8Array,
    readonly remotePort: number,
  ) {
    this.hash = entryHash(localAddr, localPort, remoteAddr, remotePort);
  }
}

t.test('lookup by packet bytes finds the entry; ports and addresses all matter', async (t) => {
  const table = new FlowTable<Entry>();
  const local = parseIp('10.200.0.5') as Uint8Array;
  const remote = parseIp('10.0.0.2') as Uint8Array;
  const e = new Entry(local, 80, remote, 40000);
  table.add(e);
  const pkt = new Uint8Array(20);
  pkt.set(remote, 12);
  pkt.set(local, 16);
  const h = flowHash(pkt, 12, 16, 4, 40000, 80);
  t.equal(h, e.hash, 'same hash from packet bytes and from the entry');
  t.equal(table.find(pkt, 12, 16, 4, 40000, 80, h), e);
  t.equal(table.find(pkt, 12, 16, 4, 40001, 80, flowHash(pkt, 12, 16, 4, 40001, 80)), null);
  t.equal(table.find(pkt, 16, 12, 4, 40000, 80, flowHash(pkt, 16, 12, 4, 40000, 80)), null, 'direction matters');
});

t.test('colliding hashes chain; removal from the middle keeps the rest', async (t) => {
  const table = new FlowTable<Entry>();
  const a = parseIp('fd00::1') as Uint8Array;
  const b = parseIp('fd00::2') as Uint8Array;
  const entries = [1, 2, 3].map((p) => {
    const e = new Entry(a, p, b, 1000);
    e.hash = 42; // force one bucket
    table.add(e);
    return e;
  });
  const pkt = new Uint8Array(40);
  pkt.set(b, 8);
  pkt.set(a, 24);
  t.equal(table.find(pkt, 8, 24, 16, 1000, 2, 42), entries[1]);
  t.ok(table.remove(entries[1] as Entry));
  t.notOk(table.remove(entries[1] as Entry), 'second removal is a no-op');
  t.equal(table.find(pkt, 8, 24, 16, 1000, 1, 42), entries[0]);
  t.equal(table.find(pkt, 8, 24, 16, 1000, 3, 42), entries[2]);
  t.equal(table.size, 2);
  t.equal([...table.values()].length, 2);
});
