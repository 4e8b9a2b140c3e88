// Retransmission (RFC 6298), fast retransmit / NewReno (RFC 5681, 6582),
// zero-window probing (RFC 9293 §3.8.6.1), all on the manual clock.
import t from 'tap';
import { connectionIn, OUR_ISS, PEER_ISS } from './harness.js';

const P = PEER_ISS + 1;
const U = OUR_ISS + 1;

t.test('RTO fires at 1 s before any sample, retransmits from SND.UNA, and backs off', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  // The handshake gave an RTT sample of 0 ms → RTO is the 200 ms floor.
  t.equal(h.conn.snd.rtt.rto, 200);
  h.conn.send(Buffer.from('data'));
  h.conn.poll(h.now);
  h.expect({ flags: 'PA', seq: U, data: 'data' });
  h.advance(199);
  h.expectNothing();
  h.advance(1);
  h.expect({ flags: 'PA', seq: U, data: 'data' }, 'retransmission after RTO');
  h.advance(399);
  h.expectNothing('backed off to 400 ms');
  h.advance(1);
  h.expect({ flags: 'PA', seq: U, data: 'data' });
  h.send({ flags: 'A', seq: P, ack: U + 4 });
  t.equal(h.conn.timerName, 'none');
  t.equal(h.stats.tcp.retransmits, 2);
});

t.test('RTT samples set the RTO (RFC 6298 §2); Karn ignores retransmitted segments', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED', { minRtoMs: 100 });
  h.conn.send(Buffer.from('a'));
  h.conn.poll(h.now);
  h.next();
  h.advance(50);
  h.send({ flags: 'A', seq: P, ack: U + 1 });
  // Samples: 0 ms (handshake), then 50 ms: SRTT = 50/8, RTTVAR = 50/4.
  t.equal(h.conn.snd.rtt.srtt, 6.25);
  t.equal(h.conn.snd.rtt.rttvar, 12.5);
  t.equal(h.conn.snd.rtt.rto, 100, 'floor');
  h.conn.send(Buffer.from('b'));
  h.conn.poll(h.now);
  h.next();
  h.advance(100);
  h.expect({ seq: U + 1, data: 'b' }, 'retransmitted');
  h.advance(10);
  h.send({ flags: 'A', seq: P, ack: U + 2 });
  t.equal(h.conn.snd.rtt.srtt, 6.25, 'no sample from an ambiguous ACK');
});

t.test('go-back-N after a timeout: everything from SND.UNA is resent as the window allows', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.conn.send(Buffer.alloc(4380, 'q'));
  h.conn.poll(h.now);
  h.expect({ seq: U });
  h.expect({ seq: U + 1460 });
  h.expect({ seq: U + 2920 });
  h.advance(200);
  h.expect({ seq: U, len: 1460 }, 'cwnd collapsed to one segment');
  h.expectNothing();
  h.send({ flags: 'A', seq: P, ack: U + 1460 });
  h.expect({ seq: U + 1460 });
  h.expect({ seq: U + 2920 });
});

t.test('three duplicate ACKs trigger fast retransmit; a partial ACK retransmits the next hole', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.conn.send(Buffer.alloc(1460 * 5, 'f'));
  h.conn.poll(h.now);
  for (let i = 0; i < 5; i++) h.next();
  h.send({ flags: 'A', seq: P, ack: U });
  h.send({ flags: 'A', seq: P, ack: U });
  h.expectNothing('two duplicates are not enough');
  h.send({ flags: 'A', seq: P, ack: U });
  h.expect({ seq: U, len: 1460 }, 'fast retransmit');
  t.equal(h.stats.tcp.fastRetransmits, 1);
  h.send({ flags: 'A', seq: P, ack: U + 1460 * 2 });
  h.expect({ seq: U + 1460 * 2, len: 1460 }, 'partial ACK: next hole');
  h.send({ flags: 'A', seq: P, ack: U + 1460 * 5 });
  t.notOk(h.conn.snd.inRecovery, 'full ACK ends recovery');
});

t.test('retransmissions exhausted → RST and timeout', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED', { maxRetransmits: 2 });
  h.conn.send(Buffer.from('x'));
  h.conn.poll(h.now);
  h.next();
  h.advance(200);
  h.expect({ seq: U });
  h.advance(400);
  h.expect({ seq: U });
  h.advance(800);
  h.expect({ flags: 'RA', seq: U + 1 });
  t.equal(h.closedReason, 'timeout');
  t.equal(h.stats.tcp.timeouts, 1);
});

t.test('zero window: persist timer probes with backoff, data flows when the window opens', async (t) => {
  const h = connectionIn(t, 'ESTABLISHED');
  h.send({ flags: 'A', seq: P, ack: U, window: 0 });
  h.conn.send(Buffer.from('waiting'));
  h.conn.poll(h.now);
  h.expectNothing('nothing fits a zero window');
  t.equal(h.conn.timerName, 'persist');
  h.advance(200);
  h.expect({ flags: 'A', seq: U - 1, ack: P, len: 0 }, 'probe one below SND.UNA');
  h.send({ flags: 'A', seq: P, ack: U, window: 0 });
  h.advance(399);
  h.expectNothing();
  h.advance(1);
  h.expect({ flags: 'A', seq: U - 1 }, 'second probe after 400 ms');
  t.equal(h.stats.tcp.zeroWindowProbes, 2);
  h.send({ flags: 'A', seq: P, ack: U, window: 1000 });
  h.expect({ flags: 'PA', seq: U, data: 'waiting' });
  t.equal(h.conn.timerName, 'retransmit');
});
