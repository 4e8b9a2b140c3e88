// The file server's connection limits, in-process: the preamble deadline,
// INIT first and once, and backpressure (a client that stops reading
// replies stalls the server's reading, and gets everything once it resumes).
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { FilesLog } from '../../src/volumes/server/log.js';
import { tokenDigest } from '../../src/volumes/server/preamble.js';
import { FilesServer } from '../../src/volumes/server/server.js';
import { connectRaw, fields, frame, SftpClient, T } from './helpers/sftp-client.js';

const TOKEN = 'limits-token';

async function serve(t: Test): Promise<{ port: number; root: string; logs: Record<string, unknown>[] }> {
  const root = mkdtempSync(join(tmpdir(), 'kvpn-files-limits-'));
  const logs: Record<string, unknown>[] = [];
  const log = new FilesLog((line) => logs.push(JSON.parse(line) as Record<string, unknown>));
  const config = { tokenDigest: tokenDigest(TOKEN), port: 0, root, idleMs: 60_000, startMs: 60_000 };
  const server = new FilesServer(config, log, () => {}, { preambleTimeoutMs: 50 });
  const port = await server.listen();
  t.teardown(() => {
    server.destroy();
    rmSync(root, { recursive: true, force: true });
  });
  return { port, root, logs };
}

t.test('a client that sends no preamble in time is told so and closed', async (t) => {
  const { port, logs } = await serve(t);
  const { socket, answer } = await connectRaw(port, 'KVPN-FILES 1 lim');
  t.equal(answer, 'ERR no preamble within the time limit\n');
  await once(socket, 'close');
  t.match(logs.at(-1), { msg: 'connection refused', reason: 'no preamble within the time limit' });
});

t.test('INIT must come first and only once', async (t) => {
  const { port, logs } = await serve(t);
  const first = await connectRaw(port, `KVPN-FILES 1 ${TOKEN}\n`);
  first.socket.resume();
  first.socket.write(frame(T.STAT, fields(1, '/')));
  await once(first.socket, 'close');
  t.match(logs.at(-2), { msg: 'protocol error', reason: 'expected INIT, got stat' });
  const c = await SftpClient.open(port, TOKEN);
  c.socket.write(frame(T.INIT, fields(3)));
  await c.closed;
  t.match(logs.at(-2), { msg: 'protocol error', reason: 'INIT twice' });
});

t.test('replies wait while the client does not read; all arrive once it does', async (t) => {
  const { port, root } = await serve(t);
  const data = Buffer.alloc(1024 * 1024, 0x5a);
  writeFileSync(join(root, 'f'), data);
  const c = await SftpClient.open(port, TOKEN);
  t.teardown(() => c.close());
  const h = await c.open('/f', 1);
  const count = 400; // 400 × 64 KiB = 25 MiB of replies, far over the socket buffers
  c.socket.pause();
  const reads: Promise<Buffer | undefined>[] = [];
  for (let i = 0; i < count; i++) reads.push(c.read(h, (i % 16) * 65536, 65536));
  // Give the server time to fill the socket and stop (no event says so; the result holds either way).
  await new Promise<void>((resolve) => setTimeout(resolve, 50));
  c.socket.resume();
  const got = await Promise.all(reads);
  t.equal(got.length, count);
  t.ok(
    got.every((b) => b?.length === 65536 && b.equals(data.subarray(0, 65536))),
    'every read got its 64 KiB',
  );
});
