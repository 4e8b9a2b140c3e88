// The control socket: owner-only, one JSON line per request and response,
// errors keep their code and remedy, garbage is answered once and dropped.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { callDaemon, DaemonUnreachableError, RemoteError } from '../../src/control/client.js';
import { ControlServer, ControlSocketError } from '../../src/control/server.js';
import { KvpnError } from '../../src/errors.js';

const execFileP = promisify(execFile);
const NOBODY = 65534;

function socketPath(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-ctl-'));
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 's.sock');
}

t.test('requests get their results; errors keep code, category and remedy', async (t) => {
  const path = socketPath(t);
  const server = await ControlServer.listen({
    path,
    handlers: {
      status: () => ({ context: 'staging', uptime: 3 }),
      shutdown: () => {
        throw new KvpnError('KVPN_ERR_ROUTE', 'system', 'cannot remove route', { remedy: 'Remove it by hand.' });
      },
    },
  });
  t.teardown(() => server.close());
  t.same(await callDaemon(path, 'status'), { context: 'staging', uptime: 3 });
  const err = (await callDaemon(path, 'shutdown').catch((e: unknown) => e)) as RemoteError;
  t.ok(err instanceof RemoteError);
  t.match(err, {
    code: 'KVPN_ERR_ROUTE',
    category: 'system',
    message: 'cannot remove route',
    remedy: 'Remove it by hand.',
  });
  const unknown = (await callDaemon(path, 'hello').catch((e: unknown) => e)) as RemoteError;
  t.match(unknown, { code: 'KVPN_ERR_CONTROL_PROTOCOL', message: 'unknown method "hello"' });
});

t.test('the socket is 0600 and belongs to the invoking user; others are refused', async (t) => {
  const path = socketPath(t);
  const server = await ControlServer.listen({
    path,
    owner: { uid: NOBODY, gid: NOBODY },
    handlers: { status: () => 'ok' },
  });
  t.teardown(() => server.close());
  const st = statSync(path);
  t.equal(st.mode & 0o777, 0o600);
  t.equal(st.uid, NOBODY);
  // Another unprivileged user (uid 1000) cannot connect.
  const probe = `require('net').connect(${JSON.stringify(path)}).on('error', e => { console.log(e.code); process.exit(0) }).on('connect', () => { console.log('connected'); process.exit(0) })`;
  const other = await execFileP(process.execPath, ['-e', probe], { uid: 1000, gid: 1000 });
  t.equal(other.stdout.trim(), 'EACCES');
  const owner = await execFileP(process.execPath, ['-e', probe], { uid: NOBODY, gid: NOBODY });
  t.equal(owner.stdout.trim(), 'connected', 'the owner can');
});

t.test('a malformed line is answered with an error and the connection closed', async (t) => {
  const path = socketPath(t);
  const server = await ControlServer.listen({ path, handlers: { status: () => 'ok' } });
  t.teardown(() => server.close());
  const socket = net.connect(path);
  socket.setEncoding('utf8');
  socket.write('{"not json\n');
  let text = '';
  for await (const chunk of socket) text += chunk;
  t.same(JSON.parse(text), { id: 0, error: { code: 'KVPN_ERR_CONTROL_PROTOCOL', message: 'malformed request' } });
});

t.test('a stale socket file is replaced, a live one is refused, close removes it', async (t) => {
  const path = socketPath(t);
  writeFileSync(path, '');
  const first = await ControlServer.listen({ path, handlers: { status: () => 1 } });
  t.equal(await callDaemon(path, 'status'), 1, 'listening over the stale file');
  const err = await ControlServer.listen({ path, handlers: {} }).catch((e: unknown) => e);
  t.ok(err instanceof ControlSocketError, 'a second listener is refused');
  t.equal(await callDaemon(path, 'status'), 1, 'and the first still answers');
  await first.close();
  t.notOk(existsSync(path));
  const gone = await callDaemon(path, 'status').catch((e: unknown) => e);
  t.ok(gone instanceof DaemonUnreachableError);
  t.match(gone, { code: 'KVPN_ERR_DAEMON_UNREACHABLE', message: /no daemon is listening/ });
});
