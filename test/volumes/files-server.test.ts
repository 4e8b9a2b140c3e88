// kvpn's file server as a process, driven by a raw SFTP client: the preamble,
// every request sshfs uses, the root boundary, limits, and when it exits.
import { once } from 'node:events';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startFilesServer } from './helpers/files-server.js';
import { attrs, connectRaw, fields, frame, SftpClient, T } from './helpers/sftp-client.js';

const READ = 1;
const WRITE = 2;
const CREAT = 8;
const TRUNC = 0x10;
const EXCL = 0x20;

async function client(t: Test, port: number, token: string): Promise<SftpClient> {
  const c = await SftpClient.open(port, token);
  t.teardown(() => c.close());
  return c;
}

t.test('a wrong token is refused with ERR and logged; the right one gets OK and VERSION 3', async (t) => {
  const s = await startFilesServer(t);
  const bad = await connectRaw(s.port, 'KVPN-FILES 1 nope\n');
  t.equal(bad.answer, 'ERR bad token\n');
  await once(bad.socket, 'close');
  const other = await connectRaw(s.port, 'HELLO\n');
  t.equal(other.answer, 'ERR bad preamble\n');
  const long = await connectRaw(s.port, 'x'.repeat(2000));
  t.equal(long.answer, 'ERR preamble longer than 1024 bytes\n');
  t.match(await s.logged((l) => l.msg === 'bad token'), { level: 'warn', reason: 'bad token' });

  const c = await client(t, s.port, s.token);
  t.same(Object.fromEntries(c.extensions), {
    'posix-rename@openssh.com': '1',
    'statvfs@openssh.com': '2',
    'hardlink@openssh.com': '1',
    'fsync@openssh.com': '1',
  });
  t.match(await s.logged((l) => l.msg === 'connection opened'), { open: 1 });
});

t.test('SFTP bytes in the same chunk as the preamble are not lost', async (t) => {
  const s = await startFilesServer(t);
  const socket = net.connect(s.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  socket.write(Buffer.concat([Buffer.from(`KVPN-FILES 1 ${s.token}\n`), frame(T.INIT, fields(3))]));
  let got = Buffer.alloc(0);
  while (got.length < 3 + 9) got = Buffer.concat([got, (await once(socket, 'data'))[0] as Buffer]);
  t.equal(got.subarray(0, 3).toString(), 'OK\n');
  t.equal(got[3 + 4], T.VERSION);
  t.equal(got.readUInt32BE(3 + 5), 3);
});

t.test('stat, lstat, readdir in batches, read with pipelined requests', async (t) => {
  const s = await startFilesServer(t);
  const data = Buffer.alloc(300_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  writeFileSync(join(s.root, 'big'), data);
  chmodSync(join(s.root, 'big'), 0o640);
  mkdirSync(join(s.root, 'many'));
  for (let i = 0; i < 250; i++) writeFileSync(join(s.root, 'many', `f${i}`), String(i));
  const c = await client(t, s.port, s.token);

  const st = await c.attrs(T.STAT, '/big');
  t.match(st, {
    size: 300_000,
    permissions: 0o100640,
    uid: process.getuid?.(),
    mtime: Math.floor(statSync(join(s.root, 'big')).mtimeMs / 1000),
  });
  t.equal(((await c.attrs(T.LSTAT, 'many')).permissions ?? 0) & 0o170000, 0o040000, 'directory type bits');
  t.equal(((await c.attrs(T.STAT, '/')).permissions ?? 0) & 0o170000, 0o040000, '"/" is the root');

  const dir = await c.readdir('/many');
  t.equal(dir.entries.length, 252, '250 files, "." and ".."');
  t.ok(dir.batches >= 3, `batches of at most 100 (${dir.batches})`);
  const f7 = dir.entries.find((e) => e.name === 'f7');
  t.match(f7, { attrs: { size: 1 }, longname: /^-rw-r--r-- +1 \d+ +\d+ +1 \w{3} [ \d]\d [\d: ]{5} f7$/ });
  t.same(dir.entries.map((e) => e.name).slice(0, 2), ['.', '..']);

  const h = await c.open('/big', READ);
  const chunk = 32 * 1024;
  const reads = [];
  for (let off = 0; off < data.length; off += chunk) reads.push(c.read(h, off, chunk));
  const parts = await Promise.all(reads);
  t.ok(Buffer.concat(parts as Buffer[]).equals(data), 'every pipelined read returned its bytes');
  t.equal(await c.read(h, data.length, chunk), undefined, 'EOF at the end');
  t.equal((await c.read(h, 0, 1024 * 1024))?.length, 255 * 1024, 'a read is capped');
  t.equal((await c.fstat(h)).size, 300_000);
  await c.closeHandle(h);
  await t.rejects(c.read(h, 0, 10), { code: 4, message: /invalid handle/ }, 'closed handle');
});

t.test('write, setstat, rename, posix-rename, hardlink, remove, mkdir, rmdir, fsync, statvfs', async (t) => {
  const s = await startFilesServer(t);
  const c = await client(t, s.port, s.token);
  const h = await c.open('/new', WRITE | CREAT | TRUNC, attrs(4, 0o600));
  await c.write(h, 0, Buffer.from('hello '));
  await c.write(h, 6, Buffer.from('world'));
  t.equal((await c.extended('fsync@openssh.com', h)).type, T.STATUS);
  await c.closeHandle(h);
  t.equal(readFileSync(join(s.root, 'new'), 'utf8'), 'hello world');
  t.equal(statSync(join(s.root, 'new')).mode & 0o777, 0o600, 'permissions honoured on create');
  await t.rejects(c.open('/new', WRITE | CREAT | EXCL), { code: 4, message: /EEXIST/ });

  await c.status(T.SETSTAT, '/new', attrs(1 | 4 | 8, 5n, 0o644, 1_000_000, 2_000_000));
  const st = statSync(join(s.root, 'new'));
  t.match(st, { size: 5, mtimeMs: 2_000_000_000, atimeMs: 1_000_000_000 });
  t.equal(st.mode & 0o777, 0o644);
  const fh = await c.open('/new', READ | WRITE);
  await c.status(T.FSETSTAT, fh, attrs(1, 2n));
  t.equal(statSync(join(s.root, 'new')).size, 2, 'FSETSTAT truncates');
  await c.closeHandle(fh);

  writeFileSync(join(s.root, 'other'), 'x');
  await t.rejects(c.status(T.RENAME, '/new', '/other'), { code: 4, message: /exists/ }, 'v3 RENAME never replaces');
  await c.status(T.RENAME, '/new', '/renamed');
  t.equal(readFileSync(join(s.root, 'renamed'), 'utf8'), 'he');
  t.match(await c.extended('posix-rename@openssh.com', '/renamed', '/other'), { type: T.STATUS });
  t.equal(readFileSync(join(s.root, 'other'), 'utf8'), 'he', 'posix-rename replaces');
  await c.status(T.EXTENDED, 'hardlink@openssh.com', '/other', '/linked');
  t.equal(statSync(join(s.root, 'linked')).nlink, 2);

  await c.status(T.MKDIR, '/d', attrs(4, 0o700));
  t.equal(statSync(join(s.root, 'd')).mode & 0o777, 0o700);
  writeFileSync(join(s.root, 'd', 'x'), '');
  await t.rejects(c.status(T.RMDIR, '/d'), { code: 4, message: /ENOTEMPTY/ });
  await c.status(T.REMOVE, '/d/x');
  await c.status(T.RMDIR, '/d');
  await t.rejects(c.attrs(T.STAT, '/d'), { code: 2 }, 'ENOENT → NO_SUCH_FILE');

  const vfs = await c.extended('statvfs@openssh.com', '/');
  t.equal(vfs.type, T.EXTENDED_REPLY);
  const values = Array.from({ length: 11 }, () => vfs.body.u64());
  t.ok((values[0] as bigint) > 0n && values[10] === 255n, 'bsize, …, namemax');
  t.equal(vfs.body.off, vfs.body.buf.length, 'eleven uint64');
  await t.rejects(c.status(T.EXTENDED, 'copy-data', 'x'), { code: 8 }, 'unknown extension → OP_UNSUPPORTED');
  await t.rejects(c.status(99), { code: 8 }, 'unknown type → OP_UNSUPPORTED');
});

t.test('requests keep their order across paths: a STAT sent right after OPEN(CREAT) sees the file', async (t) => {
  // sshfs creates a file this way, without waiting for the OPEN's reply in between.
  const s = await startFilesServer(t);
  const c = await client(t, s.port, s.token);
  for (let i = 0; i < 50; i++) {
    const [h, st] = await Promise.all([
      c.open(`/made-${i}`, WRITE | CREAT | EXCL, attrs(4, 0o640)),
      c.attrs(T.LSTAT, `/made-${i}`),
    ]);
    t.equal((st.permissions ?? 0) & 0o777, 0o640, `file ${i} found by the STAT behind its OPEN`);
    const [, gone] = await Promise.all([
      c.status(T.REMOVE, `/made-${i}`),
      c.attrs(T.LSTAT, `/made-${i}`).then(
        () => 'still there',
        (err: { code?: number }) => err.code,
      ),
    ]);
    t.equal(gone, 2, 'and the STAT behind a REMOVE does not');
    await c.closeHandle(h);
  }
});

t.test('symlinks are made and read verbatim; paths never leave the root', async (t) => {
  const s = await startFilesServer(t);
  mkdirSync(join(s.root, '..2024_01_01'));
  writeFileSync(join(s.root, '..2024_01_01', 'key'), 'v');
  symlinkSync('..2024_01_01', join(s.root, '..data'));
  const c = await client(t, s.port, s.token);
  // OpenSSH's order: the target first, then the new link's path.
  await c.status(T.SYMLINK, '..data/key', '/key');
  t.equal(readlinkSync(join(s.root, 'key')), '..data/key');
  t.equal(await c.readlink('/key'), '..data/key');
  t.equal(((await c.attrs(T.LSTAT, '/key')).permissions ?? 0) & 0o170000, 0o120000, 'LSTAT sees the link');
  t.equal((await c.attrs(T.STAT, '/key')).size, 1, 'STAT follows it');
  const names = (await c.readdir('/')).entries.map((e) => `${e.name} ${e.longname[0]}`);
  t.same(names.sort(), ['. d', '.. d', '..2024_01_01 d', '..data l', 'key l']);

  t.equal(await c.realpath(''), '/');
  t.equal(await c.realpath('.'), '/');
  t.equal(await c.realpath('a/./b/../c'), '/a/c');
  await t.rejects(c.realpath('/..'), { code: 3 });
  const outside = mkdtempSync(join(tmpdir(), 'kvpn-outside-'));
  t.teardown(() => import('node:fs').then((fs) => fs.rmSync(outside, { recursive: true, force: true })));
  for (const path of ['../x', '/a/../../x', `../${outside.split('/').pop()}`]) {
    await t.rejects(c.attrs(T.STAT, path), { code: 3, message: /escapes/ }, `STAT ${path}`);
    await t.rejects(c.open(path, WRITE | CREAT), { code: 3 }, `OPEN ${path}`);
  }
  await t.rejects(c.status(T.SYMLINK, 'x', '../evil'), { code: 3 });
  await t.rejects(c.status(T.RENAME, '/key', '/../moved'), { code: 3 });
  t.throws(() => lstatSync(join(s.root, '..', 'evil')), { message: /ENOENT/ });
});

t.test('a packet over the limit closes the connection; malformed requests get BAD_MESSAGE', async (t) => {
  const s = await startFilesServer(t);
  const c = await client(t, s.port, s.token);
  const r = await c.request(T.OPEN, 'x'); // no pflags or attrs
  t.equal(r.type, T.STATUS);
  t.equal(r.body.u32(), 5);
  const head = Buffer.alloc(9);
  head.writeUInt32BE(300 * 1024);
  head[4] = T.WRITE;
  c.socket.write(head);
  await c.closed;
  t.match(await s.logged((l) => l.msg === 'protocol error'), { reason: 'oversize packet' });
  t.match(await s.logged((l) => l.msg === 'connection closed'), { open: 0 });
});

t.test('handles are closed when the client goes away, and the server exits once idle', async (t) => {
  const s = await startFilesServer(t, { KVPN_FILES_IDLE_MS: '300' });
  writeFileSync(join(s.root, 'f'), 'x');
  const a = await client(t, s.port, s.token);
  const b = await client(t, s.port, s.token);
  await a.open('/f', READ);
  await a.opendir('/');
  a.close();
  t.match(await s.logged((l) => l.msg === 'connection closed'), { open: 1, handles: 2 });
  t.equal(s.child.exitCode, null, 'one connection is still open');
  b.close();
  t.equal(await s.exited, 0);
  t.match(s.logs.at(-1), { msg: 'exit', reason: /no connection open for 300 ms/ });
  t.equal(s.stdout(), '', 'nothing on stdout');
});

t.test('the server exits when no connection arrives after start', async (t) => {
  const s = await startFilesServer(t, { KVPN_FILES_START_MS: '200' });
  const bad = await connectRaw(s.port, 'KVPN-FILES 1 wrong\n');
  t.equal(bad.answer, 'ERR bad token\n', 'a refused connection does not count');
  t.equal(await s.exited, 0);
  t.match(s.logs.at(-1), { msg: 'exit', reason: /no connection within 200 ms/ });
});

t.test('a missing root, a port in use, a bad environment: clear logs and non-zero exits', async (t) => {
  const missing = await startFilesServer(t, { KVPN_FILES_ROOT: '/nonexistent/kvpn' });
  t.equal(await missing.exited, 1);
  t.match(missing.logs[0], { level: 'error', msg: 'root is not a directory', root: '/nonexistent/kvpn' });

  const busy = net.createServer();
  busy.listen(0, '127.0.0.1');
  await once(busy, 'listening');
  t.teardown(() => busy.close());
  const port = (busy.address() as net.AddressInfo).port;
  const inUse = await startFilesServer(t, { KVPN_FILES_PORT: String(port) });
  t.equal(await inUse.exited, 1);
  t.match(inUse.logs, [{ msg: 'cannot listen', error: `port ${port} is in use` }]);

  const bad = await startFilesServer(t, { KVPN_FILES_TOKEN_SHA256: '', KVPN_FILES_IDLE_MS: 'soon' });
  t.equal(await bad.exited, 2);
  t.same(
    bad.logs.filter((l) => l.msg === 'bad configuration').map((l) => l.error),
    [
      'KVPN_FILES_TOKEN_SHA256 must be 64 lowercase hex digits',
      'KVPN_FILES_IDLE_MS=soon is not an integer in [0, 604800000]',
    ],
  );
});
