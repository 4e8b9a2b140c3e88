// A relay from before the mux carrier (HTTP/2 only, tunnel protocol 1): a
// client that asks for the mux is told so by the relay's first bytes and
// keeps working over HTTP/2, instead of failing or retrying forever.
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import t from 'tap';
import { CarrierError } from '../../src/tunnel/carrier.js';
import { TunnelDialer } from '../../src/tunnel/dialer.js';
import { MuxCarrier, RelayWithoutMuxError } from '../../src/tunnel/mux-carrier.js';

/** An HTTP/2-only relay: /v1/info says protocol 1, CONNECT echoes. */
async function oldRelay(t: { teardown(fn: () => unknown): void }): Promise<number> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (headers[':method'] === 'GET') {
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ protocol: 1, version: '0.0.9' }));
      return;
    }
    stream.respond({ ':status': 200, 'kvpn-peer': '127.0.0.1:7' });
    stream.pipe(stream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

function transportTo(port: number) {
  return {
    token: 't'.repeat(32),
    async connect(): Promise<Duplex> {
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      return socket;
    },
    describe: () => `old relay on ${port}`,
  };
}

t.test('opening a mux carrier to it fails with a reason that says so', async (t) => {
  const port = await oldRelay(t);
  const socket = await transportTo(port).connect();
  const err = await MuxCarrier.open(1, socket, { token: 'x' }).catch((e: Error) => e);
  t.ok(err instanceof RelayWithoutMuxError && err instanceof CarrierError, String(err));
  t.match((err as Error).message, /HTTP\/2.*tunnel protocol 1/);
});

t.test('a dialer that asked for the mux carries on over HTTP/2', async (t) => {
  const port = await oldRelay(t);
  const d = new TunnelDialer({ transport: transportTo(port), carriers: 1, carrier: 'mux', backoffMinMs: 10 });
  t.teardown(() => d.destroy());
  await d.ready(5000);
  t.equal(d.carrierKind, 'h2', 'fell back to HTTP/2');
  const conn = await d.connect('10.0.0.1', 80);
  conn.end('still works');
  let got = '';
  conn.on('data', (c: Buffer) => {
    got += c;
  });
  await once(conn, 'end');
  t.equal(got, 'still works');
});
