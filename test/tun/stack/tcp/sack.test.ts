// SACK (RFC 2018): negotiated when the SYN offers it; our ACKs report the
// out-of-order data we hold; the sender resends the holes the peer's SACK
// blocks reveal while recovering.
import t from 'tap';
import { connectionIn, OUR_ISS, PEER_ISS, TcpHarness } from './harness.js';

const P = PEER_ISS + 1;
const U = OUR_ISS + 1;
const blocks = (e: { repr: { sackCount: number; sackRanges: Uint32Array } }) =>
  Array.from({ length: e.repr.sackCount }, (_, i) => [e.repr.sackRanges[2 * i], e.repr.sackRanges[2 * i + 1]]);

t.test('SACK-permitted is answered only when offered', async (t) => {
  const a = new TcpHarness(t);
  a.open({ sack: true });
  t.equal(a.expect({ flags: 'SA' }).repr.sackPermitted, true);
  const b = new TcpHarness(t);
  b.open();
  t.equal(b.expect({ flags: 'SA' }).repr.sackPermitted, false);
});

t.test('duplicate ACKs carry SACK blocks, the latest arrival first; adjacent pieces merge', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED', {}, { sack: true });
  h.send({ flags: 'PA', seq: P + 10, ack: U, data: 'kl' });
  t.same(blocks(h.expect({ flags: 'A', ack: P })), [[P + 10, P + 12]]);
  h.send({ flags: 'PA', seq: P + 20, ack: U, data: 'uv' });
  t.same(blocks(h.expect({ flags: 'A', ack: P })), [
    [P + 20, P + 22],
    [P + 10, P + 12],
  ]);
  h.send({ flags: 'PA', seq: P + 12, ack: U, data: 'mn' });
  t.same(blocks(h.expect({ flags: 'A', ack: P })), [
    [P + 10, P + 14],
    [P + 20, P + 22],
  ]);
  h.send({ flags: 'PA', seq: P, ack: U, data: '0123456789' });
  const filled = h.expect({ flags: 'A', ack: P + 14 });
  t.same(blocks(filled), [[P + 20, P + 22]], 'only what is still held is reported');
});

t.test('no SACK blocks when SACK was not negotiated', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'PA', seq: P + 10, ack: U, data: 'kl' });
  t.same(blocks(h.expect({ flags: 'A', ack: P })), []);
});

t.test('recovery resends every hole the SACK blocks reveal, not one per round trip', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED', {}, { sack: true });
  const mss = 1460;
  h.conn.send(Buffer.alloc(mss * 8, 'd'));
  h.conn.poll(h.now);
  for (let i = 0; i < 8; i++) h.next();
  // Segments 0 and 3 were lost; the peer holds 1-2 and 4-7.
  const seg = (i: number) => U + i * mss;
  const sack: [number, number][] = [
    [seg(4), seg(8)],
    [seg(1), seg(3)],
  ];
  h.send({ flags: 'A', seq: P, ack: U, sack });
  h.send({ flags: 'A', seq: P, ack: U, sack });
  h.expectNothing();
  h.send({ flags: 'A', seq: P, ack: U, sack });
  h.expect({ seq: seg(0), len: mss }, 'fast retransmit of the first hole');
  h.expect({ seq: seg(3), len: mss }, 'and the second hole, from the SACK blocks');
  h.expectNothing();
  h.send({ flags: 'A', seq: P, ack: seg(3), sack: [[seg(4), seg(8)]] });
  h.expectNothing('the second hole was already resent');
  h.send({ flags: 'A', seq: P, ack: seg(8) });
  t.notOk(h.conn.snd.inRecovery);
  t.equal(h.stats.tcp.retransmits, 2);
});
