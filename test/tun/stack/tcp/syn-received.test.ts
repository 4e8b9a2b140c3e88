// SYN-RECEIVED: the dial has succeeded, our SYN-ACK is out.
import t from 'tap';
import { connectionIn, OUR_ISS, PEER_ISS, TcpHarness } from './harness.js';

t.test('SYN-ACK carries MSS, window scale when offered, and acks the SYN', async (t) => {
  const h = new TcpHarness(t, { mtu: 1500, rcvBufBytes: 1 << 20 });
  h.open({ ws: 7, mss: 1460 });
  const synAck = h.expect({ flags: 'SA', seq: OUR_ISS, ack: PEER_ISS + 1, window: 65535 });
  t.equal(synAck.repr.maxSegSize, 1460);
  t.equal(synAck.repr.windowScale, 5, '1 MiB buffer needs shift 5');
  t.equal(synAck.repr.sackPermitted, false, 'SACK is not negotiated');
  t.equal(synAck.repr.hasTimestamp, false, 'timestamps are not negotiated');
  h.expectNothing();
});

t.test('no window scale in the SYN-ACK when the SYN had none (RFC 7323 §2.2)', async (t) => {
  const h = new TcpHarness(t);
  h.open();
  const synAck = h.expect({ flags: 'SA' });
  t.equal(synAck.repr.windowScale, -1);
});

t.test('with scaling, the unscaled SYN-ACK window is widened right after the handshake', async (t) => {
  const h = new TcpHarness(t);
  h.open({ ws: 7 });
  h.expect({ flags: 'SA', window: 65535 });
  h.send({ flags: 'A', seq: PEER_ISS + 1, ack: OUR_ISS + 1 });
  h.expect({ flags: 'A', window: (4 * 1024 * 1024) / 128 }, 'window update: 4 MiB at shift 7');
});

t.test('the ACK of our SYN-ACK moves to ESTABLISHED', async (t) => {
  const h = connectionIn(t, 'SYN-RECEIVED');
  h.send({ flags: 'A', seq: PEER_ISS + 1, ack: OUR_ISS + 1 });
  t.equal(h.state, 'ESTABLISHED');
  h.expectNothing('a pure ACK is not acknowledged');
  t.match(h.logs, [/SYN-RECEIVED -> ESTABLISHED/]);
});

t.test('a retransmitted SYN gets the SYN-ACK again', async (t) => {
  const h = connectionIn(t, 'SYN-RECEIVED');
  h.send({ flags: 'S', seq: PEER_ISS });
  h.expect({ flags: 'SA', seq: OUR_ISS, ack: PEER_ISS + 1 });
  t.equal(h.state, 'SYN-RECEIVED');
});

t.test('the SYN-ACK is retransmitted with backoff, then the connection gives up', async (t) => {
  const h = connectionIn(t, 'SYN-RECEIVED', { maxSynAckRetransmits: 2 });
  h.advance(999);
  h.expectNothing('not before the initial RTO of 1 s');
  h.advance(1);
  h.expect({ flags: 'SA', seq: OUR_ISS });
  h.advance(1999);
  h.expectNothing();
  h.advance(1);
  h.expect({ flags: 'SA', seq: OUR_ISS }, 'second retransmission after 2 s');
  h.advance(4000);
  t.equal(h.closedReason, 'timeout');
  t.equal(h.state, 'CLOSED');
});

t.test('an ACK for the wrong number gets <SEQ=SEG.ACK><CTL=RST>', async (t) => {
  const h = connectionIn(t, 'SYN-RECEIVED');
  h.send({ flags: 'A', seq: PEER_ISS + 1, ack: OUR_ISS + 77 });
  h.expect({ flags: 'R', seq: OUR_ISS + 77 });
  t.equal(h.state, 'SYN-RECEIVED');
  t.equal(h.stats.drops.badAck, 1);
});

t.test('RST in window closes it and tells the app', async (t) => {
  const h = connectionIn(t, 'SYN-RECEIVED');
  h.send({ flags: 'R', seq: PEER_ISS + 1 });
  t.equal(h.closedReason, 'reset');
  t.equal(h.state, 'CLOSED');
  h.expectNothing();
});

t.test('data riding on the handshake ACK is delivered', async (t) => {
  const h = connectionIn(t, 'SYN-RECEIVED');
  h.send({ flags: 'PA', seq: PEER_ISS + 1, ack: OUR_ISS + 1, data: 'GET /' });
  t.equal(h.state, 'ESTABLISHED');
  t.equal(h.receivedText, 'GET /');
  h.expect({ flags: 'A', seq: OUR_ISS + 1, ack: PEER_ISS + 6 });
});

t.test('close() before the handshake completes sends FIN right after it', async (t) => {
  const h = connectionIn(t, 'SYN-RECEIVED');
  h.conn.close();
  h.conn.poll(h.now);
  h.expectNothing('no FIN before ESTABLISHED');
  h.send({ flags: 'A', seq: PEER_ISS + 1, ack: OUR_ISS + 1 });
  t.equal(h.state, 'FIN-WAIT-1');
  h.expect({ flags: 'FA', seq: OUR_ISS + 1 });
});
