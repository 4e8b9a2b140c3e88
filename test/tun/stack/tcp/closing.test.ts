// FIN-WAIT-1, FIN-WAIT-2, CLOSING, TIME-WAIT (we close first), CLOSE-WAIT
// and LAST-ACK (the peer closes first).
import t from 'tap';
import { connectionIn, OUR_ISS, PEER_ISS } from './harness.js';

const P = PEER_ISS + 1;
const U = OUR_ISS + 1;

t.test('FIN-WAIT-1: the ACK of our FIN → FIN-WAIT-2; peer data still delivered', async (t) => {
  const h = connectionIn(t, 'FIN-WAIT-1');
  h.send({ flags: 'PA', seq: P, ack: U + 1, data: 'late' });
  t.equal(h.state, 'FIN-WAIT-2');
  t.equal(h.receivedText, 'late');
  h.expect({ flags: 'A', ack: P + 4 });
});

t.test('FIN-WAIT-1: our FIN is retransmitted on RTO', async (t) => {
  const h = connectionIn(t, 'FIN-WAIT-1');
  h.advance(200);
  h.expect({ flags: 'FA', seq: U });
});

t.test('FIN-WAIT-1: data queued before close() goes out before the FIN', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.conn.send(Buffer.from('last words'));
  h.conn.close();
  t.equal(h.state, 'FIN-WAIT-1');
  h.conn.poll(h.now);
  h.expect({ flags: 'FA', seq: U, data: 'last words' }, 'FIN piggybacked on the data');
  t.equal(h.conn.send(Buffer.from('more')), false, 'no data after close');
  t.equal(h.stats.drops.dataAfterClose, 1);
});

t.test('FIN-WAIT-2: peer FIN → TIME-WAIT, which ends after 2 MSL', async (t) => {
  const h = connectionIn(t, 'FIN-WAIT-2', { timeWaitMs: 1000 });
  h.send({ flags: 'FA', seq: P, ack: U + 1 });
  t.equal(h.state, 'TIME-WAIT');
  t.ok(h.peerFin);
  h.expect({ flags: 'A', seq: U + 1, ack: P + 1 });
  t.equal(h.stats.tcp.timeWait, 1);
  h.advance(999);
  t.equal(h.state, 'TIME-WAIT');
  h.advance(1);
  t.equal(h.state, 'CLOSED');
  t.equal(h.closedReason, 'closed');
  t.equal(h.stats.tcp.timeWait, 0);
});

t.test('simultaneous close: FIN-WAIT-1 + peer FIN → CLOSING → TIME-WAIT', async (t) => {
  const h = connectionIn(t, 'FIN-WAIT-1');
  h.send({ flags: 'FA', seq: P, ack: U });
  t.equal(h.state, 'CLOSING');
  h.expect({ flags: 'A', ack: P + 1 });
  h.send({ flags: 'A', seq: P + 1, ack: U + 1 });
  t.equal(h.state, 'TIME-WAIT');
});

t.test('TIME-WAIT: a retransmitted FIN is acknowledged again', async (t) => {
  const h = connectionIn(t, 'TIME-WAIT');
  h.send({ flags: 'FA', seq: P, ack: U + 1 });
  h.expect({ flags: 'A', seq: U + 1, ack: P + 1 });
  t.equal(h.state, 'TIME-WAIT');
});

t.test('TIME-WAIT: a new SYN above RCV.NXT asks for a fresh connection', async (t) => {
  const h = connectionIn(t, 'TIME-WAIT');
  const reopen = h.conn.onSegment(
    (() => {
      h.send({ flags: 'S', seq: P + 100000 });
      return h.scratch;
    })(),
    new Uint8Array(0),
    h.now,
  );
  void reopen;
  t.equal(h.state, 'CLOSED', 'the old one is gone; the stack dials anew');
});

t.test('CLOSE-WAIT: close() sends FIN → LAST-ACK; its ACK → CLOSED', async (t) => {
  const h = connectionIn(t, 'CLOSE-WAIT');
  h.conn.send(Buffer.from('answer'));
  h.conn.close();
  t.equal(h.state, 'LAST-ACK');
  h.conn.poll(h.now);
  h.expect({ flags: 'FA', seq: U, ack: P + 1, data: 'answer' });
  h.send({ flags: 'A', seq: P + 1, ack: U + 7 });
  t.equal(h.state, 'CLOSED');
  t.equal(h.closedReason, 'closed');
  t.match(h.logs, [/ESTABLISHED/, /ESTABLISHED -> CLOSE-WAIT/, /CLOSE-WAIT -> LAST-ACK/, /LAST-ACK -> CLOSED/]);
});

t.test('LAST-ACK: FIN retransmitted until acknowledged; data after FIN is not delivered', async (t) => {
  const h = connectionIn(t, 'LAST-ACK');
  h.advance(200);
  h.expect({ flags: 'FA', seq: U });
  h.send({ flags: 'PA', seq: P + 1, ack: U, data: 'x' });
  t.equal(h.receivedText, '');
  h.send({ flags: 'A', seq: P + 1, ack: U + 1 });
  t.equal(h.state, 'CLOSED');
});

t.test('LAST-ACK behind a slow TUN: the peer re-sends its FIN, we re-ack it and back off', async (t) => {
  // The stack bench's close storm: both sides' packets wait in the kernel's
  // TUN queue longer than either RTO.
  const h = connectionIn(t, 'LAST-ACK');
  h.advance(200);
  h.expect({ flags: 'FA', seq: U, ack: P + 1 }, 'our FIN, retransmitted after 200 ms');
  h.send({ flags: 'FA', seq: P, ack: U });
  h.expect({ flags: 'A', seq: U + 1, ack: P + 1 }, 'its old FIN is below RCV.NXT: answered with an ACK');
  h.expectNothing();
  t.equal(h.stats.drops.duplicate, 1, 'counted as an old duplicate, not delivered again');
  t.equal(h.state, 'LAST-ACK');
  t.notOk(h.closedReason);
  h.advance(399);
  h.expectNothing('backed off to 400 ms');
  h.advance(1);
  h.expect({ flags: 'FA', seq: U, ack: P + 1 });
  h.send({ flags: 'A', seq: P + 1, ack: U + 1 });
  t.equal(h.state, 'CLOSED');
  t.equal(h.closedReason, 'closed');
  t.equal(h.stats.tcp.retransmits, 2);
});

t.test('RST in CLOSE-WAIT resets the app side', async (t) => {
  const h = connectionIn(t, 'CLOSE-WAIT');
  h.send({ flags: 'R', seq: P + 1 });
  t.equal(h.closedReason, 'reset');
});

t.test('the completed FIN stored out of order is accepted when the hole fills', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'FA', seq: P + 3, ack: U, data: 'def' });
  h.next();
  h.send({ flags: 'PA', seq: P, ack: U, data: 'abc' });
  t.equal(h.receivedText, 'abcdef');
  t.ok(h.peerFin, 'FIN processed');
  t.equal(h.state, 'CLOSE-WAIT');
});
