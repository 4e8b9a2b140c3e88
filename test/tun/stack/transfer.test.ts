// Bulk data both ways through TUN → stack → DirectDialer → server, with
// real clients in the client namespace; SHA-256 must match on both ends.
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { isRoot } from '../../helpers/netns.js';
import { kernelWorld, SERVICE_V4, SERVICE_V6 } from './kernel-world.js';
import { collect, pseudoRandomChunks, transferServer } from './servers.js';

const MIB = 1 << 20;
const SIZE = 100 * MIB;
const CLIENT = fileURLToPath(new URL('./clients/transfer-client.mjs', import.meta.url));
const skip = !isRoot() && 'needs root (network namespaces, TUN)';
const opts = { skip, timeout: 120_000 };

async function payloadFile(t: Test): Promise<{ path: string; sha: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kvpn-stack-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'upload.bin');
  const h = createHash('sha256');
  const parts: Buffer[] = [];
  for (const c of pseudoRandomChunks(SIZE, 99)) {
    h.update(c);
    parts.push(c);
  }
  await writeFile(path, Buffer.concat(parts));
  return { path, sha: h.digest('hex') };
}

t.test('Node client: 100 MiB each way at once, SHA-256 equal on both ends (IPv4 and IPv6)', opts, async (t) => {
  const w = await kernelWorld(t);
  const srv = await transferServer(SIZE, 7);
  t.teardown(() => srv.close());
  for (const host of [SERVICE_V4, SERVICE_V6]) {
    const done = srv.next();
    const out = await collect(w.ns.spawn(process.execPath, [CLIENT, host, String(srv.port), String(SIZE), '3']));
    const client = JSON.parse(out.stdout);
    if (client.error) {
      t.fail(`${host}: client failed: ${client.error}`);
      continue;
    }
    const server = await done;
    t.equal(client.sentBytes, SIZE, `${host}: client sent 100 MiB`);
    t.equal(server.receivedBytes, SIZE, `${host}: server received 100 MiB`);
    t.equal(server.received, client.sent, `${host}: upload SHA-256 equal`);
    t.equal(client.receivedBytes, SIZE, `${host}: client received 100 MiB`);
    t.equal(client.received, server.sent, `${host}: download SHA-256 equal`);
    t.comment(`${host}: 2 × 100 MiB in ${client.ms} ms`);
  }
  t.equal(w.stack.stats.tcp.bytesFromApp, 2 * SIZE);
  t.ok(w.stack.stats.tcp.bytesToApp >= 2 * SIZE);
});

t.test('nc: 100 MiB up from a file while 100 MiB come down; nc -N half-closes', opts, async (t) => {
  const w = await kernelWorld(t);
  const file = await payloadFile(t);
  const srv = await transferServer(SIZE, 11);
  t.teardown(() => srv.close());
  const done = srv.next();
  const out = await w.ns.exec('sh', ['-c', `nc -N ${SERVICE_V4} ${srv.port} < ${file.path} | sha256sum`]);
  const server = await done;
  t.equal(server.receivedBytes, SIZE);
  t.equal(server.received, file.sha, 'upload SHA-256 equal');
  t.equal(out.split(' ')[0], server.sent, 'download SHA-256 equal');
});

t.test('curl: 100 MiB download and 100 MiB upload over HTTP', opts, async (t) => {
  const w = await kernelWorld(t);
  const file = await payloadFile(t);
  let downloadSha = '';
  const http = createServer((req, res) => {
    if (req.method === 'GET') {
      const h = createHash('sha256');
      const chunks = pseudoRandomChunks(SIZE, 5);
      res.writeHead(200, { 'content-length': String(SIZE) });
      const pump = () => {
        for (;;) {
          const c = chunks.next();
          if (c.done) {
            downloadSha = h.digest('hex');
            res.end();
            return;
          }
          h.update(c.value);
          if (!res.write(c.value)) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
      return;
    }
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
    });
    req.on('end', () => res.end(`${n} ${h.digest('hex')}`));
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => http.close(() => r())));
  const port = (http.address() as { port: number }).port;
  const down = await w.ns.exec('sh', ['-c', `curl -sS --fail http://${SERVICE_V4}:${port}/big | sha256sum`]);
  t.equal(down.split(' ')[0], downloadSha, 'download SHA-256 equal');
  const up = await w.ns.exec('curl', ['-sS', '--fail', '-T', file.path, `http://${SERVICE_V4}:${port}/up`]);
  t.equal(up, `${SIZE} ${file.sha}`, 'upload: server saw 100 MiB with the same SHA-256');
});
