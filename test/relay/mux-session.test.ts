// The mux carrier's sessions, both ends over a loopback socket: credit keeps
// memory bounded and never deadlocks many streams, limits refuse streams,
// PING is answered, GOAWAY lets open streams finish, and bytes that are not
// the protocol end the carrier with a reason instead of a crash.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import t, { type Test } from 'tap';
import { encodeFrame, encodeJsonFrame, FrameType, MUX_PREFACE, MuxError } from '../../src/relay/mux-frame.js';
import { MuxSession } from '../../src/relay/mux-session.js';
import type { MuxStream } from '../../src/relay/mux-stream.js';

interface Pair {
  client: MuxSession;
  server: MuxSession;
  serverStreams: MuxStream[];
}

/** A listener whose connections become server sessions (past the preface, if sent); a connected client socket. */
async function serveMux(t: Test, serve: (socket: net.Socket) => void): Promise<net.Socket> {
  const listener = net.createServer((socket) => {
    socket.once('data', (first: Buffer) => {
      socket.pause();
      serve(socket);
      const preface = first.subarray(0, MUX_PREFACE.length).equals(MUX_PREFACE);
      socket.unshift(preface ? first.subarray(MUX_PREFACE.length) : first);
      socket.resume();
    });
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const socket = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

async function pair(
  t: Test,
  windows: { streamWindow: number; connectionWindow: number },
  serverOptions: { maxStreams?: number; onStream?: (s: MuxStream) => void } = {},
): Promise<Pair> {
  const serverStreams: MuxStream[] = [];
  let server: MuxSession | undefined;
  const socket = await serveMux(t, (socket) => {
    server = new MuxSession(socket, {
      role: 'server',
      ...windows,
      ...(serverOptions.maxStreams ? { maxStreams: serverOptions.maxStreams } : {}),
      onHello: (hello) => (hello.token === 'ok' ? { protocol: 2 } : 'missing or wrong token'),
      onStream: (stream) => {
        serverStreams.push(stream);
        serverOptions.onStream?.(stream);
      },
    });
  });
  const { session: client } = await MuxSession.connect(socket, { token: 'ok', protocol: 2 }, windows);
  t.teardown(() => client.destroy());
  return { client, server: server as MuxSession, serverStreams };
}

const echo = (s: MuxStream): void => {
  s.respond({ ':status': 200 });
  s.pipe(s);
};

function readAll(s: MuxStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return once(s, 'end').then(() => Buffer.concat(chunks));
}

t.test('tiny windows, many streams at once: every byte arrives, in order, no deadlock', async (t) => {
  const { client } = await pair(t, { streamWindow: 64 * 1024, connectionWindow: 96 * 1024 }, { onStream: echo });
  const payloads = Array.from({ length: 8 }, () => randomBytes(1024 * 1024));
  const got = await Promise.all(
    payloads.map((p) => {
      const s = client.request({ ':method': 'CONNECT', ':authority': 'x:1' });
      const all = readAll(s);
      s.end(p);
      return all;
    }),
  );
  for (const [i, p] of payloads.entries()) t.ok(got[i]?.equals(p), `stream ${i}: 1 MiB echoed byte-exact`);
  t.equal(client.streamCount, 0, 'every stream closed cleanly');
});

t.test('a reader that stops holds at most one window: the sender waits for credit', async (t) => {
  const window = 256 * 1024;
  const { client, serverStreams } = await pair(
    t,
    { streamWindow: window, connectionWindow: 4 * window },
    { onStream: (s) => s.respond({ ':status': 200 }) },
  );
  const s = client.request({ ':method': 'CONNECT', ':authority': 'x:1' });
  await once(s, 'response');
  const server = serverStreams[0] as MuxStream;
  server.pause();
  const chunk = Buffer.alloc(64 * 1024, 1);
  while (s.write(chunk)) {}
  // Writes stop completing once credit is gone: the write buffer fills and stays full.
  await new Promise((r) => setTimeout(r, 200));
  t.ok(
    server.readableLength <= window + 256 * 1024,
    `receiver holds ${server.readableLength} bytes (≤ window + buffer)`,
  );
  const before = server.readableLength;
  let received = 0;
  server.on('data', (c: Buffer) => {
    received += c.length;
  });
  server.resume();
  s.end();
  await once(server, 'end');
  t.ok(received >= before, 'everything arrives once the reader reads');
});

t.test('a write waiting for credit when the peer resets the stream: its callback gets the error', async (t) => {
  const window = 64 * 1024;
  const { client, serverStreams } = await pair(
    t,
    { streamWindow: window, connectionWindow: 4 * window },
    { onStream: (s) => s.respond({ ':status': 200 }) },
  );
  const s = client.request({ ':method': 'CONNECT', ':authority': 'x:1' });
  s.on('error', () => {});
  await once(s, 'response');
  const server = serverStreams[0] as MuxStream;
  server.pause();
  // More than the window: the last write cannot complete until credit comes back.
  const written = new Promise<Error | null | undefined>((resolve) => s.write(Buffer.alloc(4 * window), resolve));
  await new Promise((r) => setImmediate(r));
  // Not once(): the stream's 'error' would reject it.
  const closed = new Promise((resolve) => s.once('close', resolve));
  server.close(MuxError.Cancel);
  const err = await written;
  t.match(err, { message: /closed/ }, 'the waiting write is told the stream closed');
  await closed;
  t.equal(s.rstCode, MuxError.Cancel, 'the reset code arrived');
});

t.test('more streams than allowed: the extra one is refused, the carrier stays', async (t) => {
  const { client } = await pair(t, { streamWindow: 65536, connectionWindow: 65536 }, { maxStreams: 2, onStream: echo });
  const open = [1, 2].map(() => client.request({ ':method': 'CONNECT', ':authority': 'x:1' }));
  await Promise.all(open.map((s) => once(s, 'response')));
  const third = client.request({ ':method': 'CONNECT', ':authority': 'x:1' });
  await once(third, 'close');
  t.equal(third.rstCode, MuxError.RefusedStream, 'refused');
  for (const s of open) s.end('done');
  t.same(await Promise.all(open.map((s) => readAll(s).then(String))), ['done', 'done'], 'the others carry on');
});

t.test('PING is answered; GOAWAY lets open streams finish, then the transport ends', async (t) => {
  const { client, server, serverStreams } = await pair(
    t,
    { streamWindow: 65536, connectionWindow: 65536 },
    { onStream: (s) => s.respond({ ':status': 200 }) },
  );
  await new Promise<void>((resolve, reject) => client.ping((err) => (err ? reject(err) : resolve())));
  t.pass('PING answered');
  const s = client.request({ ':method': 'CONNECT', ':authority': 'x:1' });
  await once(s, 'response');
  const gone = once(server, 'close');
  client.close();
  t.ok(client.closed, 'no new streams once closing');
  t.throws(() => client.request({ ':method': 'GET' }), { message: /closed/ });
  const peer = serverStreams[0] as MuxStream;
  peer.end('last words');
  const reply = readAll(s);
  s.end();
  t.equal(String(await reply), 'last words', 'the open stream finished');
  await gone;
  t.ok(server.destroyed, 'then the carrier ended');
});

t.test('a wrong token: GOAWAY with the reason, no stream', async (t) => {
  const socket = await serveMux(t, (socket) => {
    new MuxSession(socket, {
      role: 'server',
      streamWindow: 65536,
      connectionWindow: 65536,
      onHello: () => 'missing or wrong token',
    });
  });
  await t.rejects(MuxSession.connect(socket, { token: 'bad' }, { streamWindow: 65536, connectionWindow: 65536 }), {
    message: /missing or wrong token/,
  });
});

t.test('bytes that are not the protocol end the carrier with the reason', async (t) => {
  for (const [what, bytes] of [
    ['an unknown frame type', encodeFrame(42, 0, 1)],
    ['DATA before HELLO', encodeFrame(FrameType.Data, 0, 1, Buffer.from('x'))],
    ['headers that are not JSON', encodeFrame(FrameType.Open, 0, 1, Buffer.from('{nope'))],
    ['OPEN with an even id', encodeJsonFrame(FrameType.Open, 0, 2, {})],
  ] as const) {
    const errors: Error[] = [];
    const socket = await serveMux(t, (socket) => {
      const session = new MuxSession(socket, {
        role: 'server',
        streamWindow: 65536,
        connectionWindow: 65536,
        onHello: () => ({ protocol: 2 }),
      });
      session.on('close', (err?: Error) => err && errors.push(err));
    });
    const hello = encodeJsonFrame(FrameType.Hello, 0, 0, { streamWindow: 65536, connectionWindow: 65536 });
    socket.write(what === 'DATA before HELLO' ? bytes : Buffer.concat([hello, bytes]));
    socket.resume();
    await once(socket, 'close');
    t.match(errors[0]?.message, /mux protocol error/, `${what}: ${errors[0]?.message}`);
  }
});
