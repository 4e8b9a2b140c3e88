import { createServer } from 'node:net';
import t from 'tap';
import { DialError } from '../../../src/tun/stack/dialer.js';
import { DirectDialer, dialReasonFor } from '../../../src/tun/stack/direct-dialer.js';

const req = (address: string, port: number, signal = new AbortController().signal) => ({
  family: 4 as const,
  destination: { address, port },
  source: { address: '10.0.0.2', port: 40000 },
  signal,
});

t.test('errno → dial failure reason', async (t) => {
  const e = (code: string) => Object.assign(new Error(code), { code });
  t.equal(dialReasonFor(e('ECONNREFUSED')), 'refused');
  t.equal(dialReasonFor(e('EHOSTUNREACH')), 'unreachable');
  t.equal(dialReasonFor(e('ENETUNREACH')), 'unreachable');
  t.equal(dialReasonFor(e('ETIMEDOUT')), 'timeout');
  t.equal(dialReasonFor(e('EPIPE')), 'error');
});

t.test('connects through the map; a closed port is refused; no mapping is unreachable', async (t) => {
  const server = createServer((s) => s.end('hi'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const dialer = new DirectDialer({ map: new Map([['10.200.0.5', '127.0.0.1']]) });
  const stream = await dialer.dialTcp(req('10.200.0.5', port));
  const got = await new Promise<string>((resolve) => {
    let s = '';
    stream.on('data', (d) => (s += d));
    stream.on('end', () => resolve(s));
  });
  t.equal(got, 'hi');
  stream.destroy();

  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as { port: number }).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const refused = await dialer.dialTcp(req('10.200.0.5', closedPort)).catch((e: unknown) => e);
  t.type(refused, DialError);
  t.equal((refused as DialError).reason, 'refused');
  t.equal((refused as DialError).code, 'KVPN_ERR_DIAL_REFUSED');
  const unreachable = await dialer.dialTcp(req('10.200.0.6', port)).catch((e: unknown) => e);
  t.equal((unreachable as DialError).reason, 'unreachable');
});

t.test('an aborted dial rejects', async (t) => {
  const dialer = new DirectDialer({ map: () => ({ address: '127.0.0.1', port: 9 }) });
  const ac = new AbortController();
  ac.abort();
  const err = await dialer.dialTcp(req('10.200.0.5', 9, ac.signal)).catch((e: unknown) => e);
  t.type(err, DialError);
});

t.test('UDP flow: datagrams both ways, close is idempotent and reported once', async (t) => {
  const { createSocket } = await import('node:dgram');
  const echo = createSocket('udp4');
  echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('re: '), m]), r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
  t.teardown(() => echo.close());
  const dialer = new DirectDialer({ map: () => ({ address: '127.0.0.1', port: echo.address().port }) });
  const flow = await dialer.openUdp(req('10.200.0.5', 53));
  const reply = new Promise<string>((resolve) => flow.onDatagram((d) => resolve(Buffer.from(d).toString())));
  let closes = 0;
  flow.onClose(() => closes++);
  t.ok(flow.send(Buffer.from('q')));
  t.equal(await reply, 're: q');
  flow.close();
  flow.close();
  t.equal(closes, 1);
  t.notOk(flow.send(Buffer.from('late')), 'send after close refused');
});
