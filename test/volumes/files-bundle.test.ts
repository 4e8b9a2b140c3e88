// The built file server as the pod runs it: `node -e <dist/relay/files.js>`
// with nothing but Node, small enough to pass on a command line.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadFilesBundle } from '../../src/volumes/files-bundle.js';
import { SftpClient, T } from './helpers/sftp-client.js';

const MAX_BUNDLE_BYTES = 30 * 1024;

t.test('the bundle is small and serves files under node -e', async (t) => {
  const bundle = loadFilesBundle();
  t.ok(bundle.length < MAX_BUNDLE_BYTES, `${bundle.length} bytes`);
  t.notMatch(bundle, /require\("(?!node:)[^"]+"\)/, 'requires nothing but node: modules');
  const root = mkdtempSync(join(tmpdir(), 'kvpn-files-bundle-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'hello'), 'hi');
  const child = spawn(process.execPath, ['-e', bundle], {
    env: {
      KVPN_FILES_TOKEN_SHA256: createHash('sha256').update('bundle-token').digest('hex'),
      KVPN_FILES_PORT: '0',
      KVPN_FILES_ROOT: root,
      KVPN_FILES_IDLE_MS: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const exited = once(child, 'exit');
  const [first] = (await once(child.stderr, 'data')) as [Buffer];
  const listening = JSON.parse(first.toString().split('\n')[0] as string) as { msg: string; port: number };
  t.equal(listening.msg, 'listening');
  const c = await SftpClient.open(listening.port, 'bundle-token');
  t.equal((await c.attrs(T.STAT, '/hello')).size, 2);
  c.close();
  t.same(await exited, [0, null], 'exits once idle');
});
