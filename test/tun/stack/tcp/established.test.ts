// ESTABLISHED: data both ways, ACK rules, RST and SYN handling.
import t from 'tap';
import { connectionIn, OUR_ISS, PEER_ISS } from './harness.js';

const P = PEER_ISS + 1;
const U = OUR_ISS + 1;

t.test('in-order data is delivered once and acknowledged', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'PA', seq: P, ack: U, data: 'hello ' });
  h.send({ flags: 'PA', seq: P + 6, ack: U, data: 'world' });
  t.equal(h.receivedText, 'hello world');
  h.expect({ flags: 'A', ack: P + 6 });
  h.expect({ flags: 'A', ack: P + 11 });
  t.equal(h.stats.tcp.bytesFromApp, 11);
});

t.test('a retransmitted (duplicate) segment is re-acked, not re-delivered', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'PA', seq: P, ack: U, data: 'abc' });
  h.expect({ flags: 'A', ack: P + 3 });
  h.send({ flags: 'PA', seq: P, ack: U, data: 'abc' });
  h.expect({ flags: 'A', ack: P + 3 });
  t.equal(h.receivedText, 'abc');
  t.equal(h.stats.drops.duplicate, 1, 'counted as an old duplicate');
  t.equal(h.stats.drops.outOfWindow, 0);
});

t.test('a segment beyond the window is counted apart from old duplicates, both re-acked', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'PA', seq: P + 0x4000_0000, ack: U, data: 'far' });
  h.expect({ flags: 'A', ack: P });
  h.send({ flags: 'PA', seq: P, ack: U, data: 'abc' });
  h.expect({ flags: 'A', ack: P + 3 });
  h.send({ flags: 'A', seq: P + 2, ack: U });
  h.expect({ flags: 'A', ack: P + 3 }, 'a bare ACK from before RCV.NXT is an old duplicate');
  t.equal(h.receivedText, 'abc');
  t.same([h.stats.drops.outOfWindow, h.stats.drops.duplicate], [1, 1]);
});

t.test('partially duplicate data is trimmed to the new part', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'PA', seq: P, ack: U, data: 'abc' });
  h.send({ flags: 'PA', seq: P + 1, ack: U, data: 'bcdef' });
  t.equal(h.receivedText, 'abcdef');
});

t.test('app data goes out in MSS-sized segments with PSH on the last', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.conn.send(Buffer.alloc(3000, 'x'));
  h.conn.poll(h.now);
  h.expect({ flags: 'A', seq: U, len: 1460 });
  h.expect({ flags: 'A', seq: U + 1460, len: 1460 });
  h.expect({ flags: 'PA', seq: U + 2920, len: 80 });
  h.expectNothing();
  h.send({ flags: 'A', seq: P, ack: U + 3000 });
  h.expectNothing('ACK of everything needs no answer');
  t.equal(h.conn.timerName, 'none', 'retransmission timer stopped when all is acked');
});

t.test('never sends beyond the peer window; resumes when it opens', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'A', seq: P, ack: U, window: 2920 });
  h.conn.send(Buffer.alloc(5000, 'y'));
  h.conn.poll(h.now);
  h.expect({ seq: U, len: 1460 });
  h.expect({ seq: U + 1460, len: 1460 });
  h.expectNothing('window full');
  h.send({ flags: 'A', seq: P, ack: U + 1460, window: 2000 });
  h.expectNothing('540 usable bytes: no runt while data is in flight (SWS avoidance)');
  h.send({ flags: 'A', seq: P, ack: U + 2920, window: 4000 });
  h.expect({ seq: U + 2920, len: 1460 });
  h.expect({ flags: 'PA', seq: U + 4380, len: 620 });
  h.expectNothing();
});

t.test('receive window is the room toward the dialer, reopened by a window update', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED', { rcvBufBytes: 4000 });
  h.send({ flags: 'PA', seq: P, ack: U, data: Buffer.alloc(1460, 1) });
  h.expect({ flags: 'A', ack: P + 1460, window: 4000 - 1460 });
  h.send({ flags: 'PA', seq: P + 1460, ack: U, data: Buffer.alloc(1460, 2) });
  h.expect({ flags: 'A', ack: P + 2920, window: 4000 - 2920 });
  h.send({ flags: 'PA', seq: P + 2920, ack: U, data: Buffer.alloc(1460, 3) });
  h.expect({ flags: 'A', ack: P + 4000, window: 0 }, 'only what fits is accepted: window closed');
  t.equal(Buffer.concat(h.received).length, 4000);
  // Zero-window probe from the peer: one byte at RCV.NXT is not acceptable.
  h.send({ flags: 'A', seq: P + 4000, ack: U, data: 'z' });
  h.expect({ flags: 'A', ack: P + 4000, window: 0 });
  h.drainApp();
  h.expect({ flags: 'A', ack: P + 4000, window: 4000 }, 'window update when the dialer drained');
  h.expectNothing();
});

t.test('out-of-order segments are held, duplicate-acked, and delivered when the hole fills', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'PA', seq: P + 3, ack: U, data: 'def' });
  h.expect({ flags: 'A', ack: P }, 'immediate duplicate ACK');
  h.send({ flags: 'PA', seq: P + 9, ack: U, data: 'jkl' });
  h.expect({ flags: 'A', ack: P });
  h.send({ flags: 'PA', seq: P + 4, ack: U, data: 'efghi' });
  h.expect({ flags: 'A', ack: P }, 'overlapping piece merged');
  t.equal(h.receivedText, '');
  h.send({ flags: 'PA', seq: P, ack: U, data: 'abc' });
  t.equal(h.receivedText, 'abcdefghijkl');
  h.expect({ flags: 'A', ack: P + 12 });
  t.equal(h.budget.used, 0, 'reassembly memory returned');
});

t.test('reassembly bounds: excess out-of-order data is dropped and counted', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED', { reassemblySegments: 2 });
  h.send({ flags: 'PA', seq: P + 10, ack: U, data: 'a' });
  h.send({ flags: 'PA', seq: P + 20, ack: U, data: 'b' });
  h.send({ flags: 'PA', seq: P + 30, ack: U, data: 'c' });
  t.equal(h.stats.drops.reassemblyFull, 1);
});

t.test('RST: exact sequence resets, in-window gets a challenge ACK, outside is ignored (RFC 5961)', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'R', seq: P + 100 });
  h.expect({ flags: 'A', seq: U, ack: P }, 'challenge ACK');
  t.equal(h.state, 'ESTABLISHED');
  h.send({ flags: 'R', seq: P + 10_000_000 });
  h.expectNothing('out-of-window RST is dropped silently');
  h.send({ flags: 'R', seq: P });
  t.equal(h.state, 'CLOSED');
  t.equal(h.closedReason, 'reset');
});

t.test('SYN in ESTABLISHED gets a challenge ACK (RFC 5961 §4)', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'S', seq: P + 5 });
  h.expect({ flags: 'A', seq: U, ack: P });
  t.equal(h.state, 'ESTABLISHED');
});

t.test('an ACK for data never sent is answered with an ACK and dropped', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'PA', seq: P, ack: U + 1000, data: 'x' });
  h.expect({ flags: 'A', seq: U, ack: P });
  t.equal(h.receivedText, '');
  t.equal(h.stats.drops.badAck, 1);
});

t.test('segments without ACK are dropped', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'P', seq: P, data: 'x' });
  h.expectNothing();
  t.equal(h.stats.drops.noAck, 1);
});

t.test('peer FIN: half-close toward the dialer, CLOSE-WAIT, and we can still send', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'FA', seq: P, ack: U, data: 'bye' });
  t.equal(h.receivedText, 'bye');
  t.ok(h.peerFin);
  t.equal(h.state, 'CLOSE-WAIT');
  h.expect({ flags: 'A', ack: P + 4 });
  h.conn.send(Buffer.from('reply'));
  h.conn.poll(h.now);
  h.expect({ flags: 'PA', seq: U, data: 'reply' });
});

t.test('an out-of-order FIN waits for the hole', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'FA', seq: P + 3, ack: U, data: 'def' });
  h.expect({ flags: 'A', ack: P });
  t.notOk(h.peerFin);
  h.send({ flags: 'PA', seq: P, ack: U, data: 'abc' });
  t.equal(h.receivedText, 'abcdef');
  t.ok(h.peerFin, 'the stored FIN is processed once its data is in');
  t.equal(h.state, 'CLOSE-WAIT');
});

t.test('abort() sends RST with our next sequence number', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.conn.abort();
  h.expect({ flags: 'RA', seq: U, ack: P });
  t.equal(h.state, 'CLOSED');
  t.equal(h.closedReason, 'aborted');
  h.conn.abort();
  h.expectNothing('abort is idempotent');
});

t.test('send buffer bound: send() reports full and onSendSpace fires after ACKs', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED', { sndBufBytes: 3000 });
  t.equal(h.conn.send(Buffer.alloc(2000)), true);
  t.equal(h.conn.send(Buffer.alloc(2000)), false, 'over the bound');
  h.conn.poll(h.now);
  while (h.next());
  h.send({ flags: 'A', seq: P, ack: U + 2000 });
  t.equal(h.sendSpaceEvents, 1);
});
