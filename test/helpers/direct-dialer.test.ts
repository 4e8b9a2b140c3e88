import { createServer } from 'node:net';
import t from 'tap';
import { DialError } from '../../src/tun/stack/index.js';
import { DirectDialer, dialReasonFor } from './direct-dialer.js';

const req = (address: string, port: number, signal = new AbortController().signal) => ({
  family: 4 as const,
  destination: { address, port },
  source: { address: '10.0.0.2', port: 40000 },
  signal,
});

t.test(
  'errno → the answer a dial through the relay gives (refused: RST, unreachable: ICMP, timeout: silence)',
  async (t) => {
    // Regression: this dialer had its own table, which answered EHOSTDOWN, ENETDOWN,
    // EACCES and EPERM with a RST ("refused") where the relay answers ICMP unreachable.
    const e = (code: string) => Object.assign(new Error(code), { code });
    const cases: [string, string][] = [
      ['ECONNREFUSED', 'refused'],
      ['EHOSTUNREACH', 'unreachable'],
      ['EHOSTDOWN', 'unreachable'],
      ['ENETUNREACH', 'unreachable'],
      ['ENETDOWN', 'unreachable'],
      ['EADDRNOTAVAIL', 'unreachable'],
      ['EACCES', 'unreachable'],
      ['EPERM', 'unreachable'],
      ['ETIMEDOUT', 'timeout'],
      ['ECONNRESET', 'error'],
      ['EPIPE', 'error'],
      ['EMFILE', 'error'],
    ];
    for (const [code, reason] of cases) t.equal(dialReasonFor(e(code)), reason, code);
    t.equal(dialReasonFor(new Error('no code')), 'error');
  },
);

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
