// The file server's pure parts: paths inside the root, the preamble, the
// `ls -l` line, configuration, errno → status, and the per-handle ordering.
import { createHash } from 'node:crypto';
import t from 'tap';
import { filesConfigFromEnv } from '../../src/volumes/server/config.js';
import { Lane } from '../../src/volumes/server/lane.js';
import { longname, modeString } from '../../src/volumes/server/longname.js';
import { normalizeSftpPath, resolveInRoot } from '../../src/volumes/server/paths.js';
import { checkPreamble, scanPreamble, tokenDigest } from '../../src/volumes/server/preamble.js';
import { FX } from '../../src/volumes/server/protocol.js';
import { statusOfError } from '../../src/volumes/server/session.js';

t.test('paths are folded lexically and never climb above the root', async (t) => {
  const cases: [string, string | undefined][] = [
    ['', '/'],
    ['.', '/'],
    ['/', '/'],
    ['a', '/a'],
    ['/a//b/./c/', '/a/b/c'],
    ['a/b/../c', '/a/c'],
    ['..data/x', '/..data/x'],
    ['...', '/...'],
    ['..', undefined],
    ['/a/../..', undefined],
    ['a/../../etc', undefined],
  ];
  for (const [path, want] of cases) t.equal(normalizeSftpPath(path), want, JSON.stringify(path));
  t.equal(resolveInRoot('/srv/vol', '/a')?.toString(), '/srv/vol/a');
  t.equal(resolveInRoot('/srv/vol', '/')?.toString(), '/srv/vol');
  t.equal(resolveInRoot('/', '/a')?.toString(), '/a');
  t.equal(
    resolveInRoot('/srv/völ', '/\xff')?.toString('hex'),
    Buffer.concat([Buffer.from('/srv/völ/'), Buffer.from([0xff])]).toString('hex'),
  );
  t.equal(resolveInRoot('/srv', '../x'), undefined);
});

t.test('the preamble: one line, at most 1 KiB, the token compared whole', async (t) => {
  t.same(scanPreamble(Buffer.from('KVPN-FILES 1 ab')), { kind: 'incomplete' });
  t.same(scanPreamble(Buffer.alloc(1024, 0x61)), { kind: 'too-long' });
  t.same(scanPreamble(Buffer.concat([Buffer.alloc(1024, 0x61), Buffer.from('\n')])), { kind: 'too-long' });
  const scan = scanPreamble(Buffer.from('KVPN-FILES 1 tok\n\x00\x00'));
  t.match(scan, { kind: 'line', line: 'KVPN-FILES 1 tok' });
  t.equal((scan as { rest: Buffer }).rest.length, 2, 'the bytes after the newline are kept');
  const digest = tokenDigest('tok');
  t.equal(
    digest.toString('hex'),
    createHash('sha256').update('tok').digest('hex'),
    "the server holds the token's sha256",
  );
  t.equal(checkPreamble('KVPN-FILES 1 tok', digest), undefined);
  t.equal(checkPreamble('KVPN-FILES 1 tok2', digest), 'bad token');
  t.equal(checkPreamble('KVPN-FILES 1 to', digest), 'bad token');
  t.equal(checkPreamble('KVPN-FILES 2 tok', digest), 'bad preamble');
  t.equal(checkPreamble('SSH-2.0-OpenSSH', digest), 'bad preamble');
});

t.test('longname looks like ls -l', async (t) => {
  t.equal(modeString(0o100644), '-rw-r--r--');
  t.equal(modeString(0o040755), 'drwxr-xr-x');
  t.equal(modeString(0o120777), 'lrwxrwxrwx');
  t.equal(modeString(0o104755), '-rwsr-xr-x');
  t.equal(modeString(0o102644), '-rw-r-Sr--');
  t.equal(modeString(0o041777), 'drwxrwxrwt');
  t.equal(modeString(0o020600), 'crw-------');
  const now = Date.UTC(2024, 4, 1, 12, 0);
  const st = { mode: 0o100600, nlink: 1, uid: 1000, gid: 2000, size: 42, mtimeMs: Date.UTC(2024, 3, 2, 9, 5) };
  t.equal(longname('f', st, now), '-rw-------   1 1000     2000           42 Apr  2 09:05 f');
  t.equal(
    longname('f', { ...st, mtimeMs: Date.UTC(2020, 0, 15) }, now),
    '-rw-------   1 1000     2000           42 Jan 15  2020 f',
  );
});

t.test('configuration: defaults, and every problem at once', async (t) => {
  const hex = 'ab'.repeat(32);
  t.same(
    filesConfigFromEnv({ KVPN_FILES_TOKEN_SHA256: hex, KVPN_FILES_PORT: '7000', KVPN_FILES_ROOT: '/srv/files/' }),
    {
      tokenDigest: Buffer.from(hex, 'hex'),
      port: 7000,
      root: '/srv/files',
      idleMs: 10_000,
      startMs: 120_000,
    },
  );
  t.same(
    (
      filesConfigFromEnv({
        KVPN_FILES_TOKEN_SHA256: 'the token itself',
        KVPN_FILES_PORT: '70000',
        KVPN_FILES_START_MS: '-1',
      }) as {
        errors: string[];
      }
    ).errors,
    [
      'KVPN_FILES_TOKEN_SHA256 must be 64 lowercase hex digits',
      'KVPN_FILES_PORT=70000 is not an integer in [0, 65535]',
      'KVPN_FILES_ROOT must be set',
      'KVPN_FILES_START_MS=-1 is not an integer in [0, 604800000]',
    ],
  );
});

t.test('errno → status, messages without paths', async (t) => {
  const err = (code: string, message: string) => Object.assign(new Error(message), { code });
  t.same(statusOfError(err('ENOENT', "ENOENT: no such file or directory, lstat '/srv/x'")), [
    FX.NO_SUCH_FILE,
    'ENOENT: no such file or directory',
  ]);
  for (const code of ['EACCES', 'EPERM', 'EROFS'])
    t.equal(statusOfError(err(code, `${code}: nope, open '/x'`))[0], FX.PERMISSION_DENIED, code);
  t.equal(statusOfError(err('ENOTSUP', 'ENOTSUP'))[0], FX.OP_UNSUPPORTED);
  t.same(statusOfError(err('ENOTEMPTY', "ENOTEMPTY: directory not empty, rmdir '/x'")), [
    FX.FAILURE,
    'ENOTEMPTY: directory not empty',
  ]);
  t.same(statusOfError('odd'), [FX.FAILURE, 'odd']);
});

t.test('a lane runs reads together and everything else alone, in arrival order', async (t) => {
  const lane = new Lane();
  const log: string[] = [];
  const gates: Record<string, () => void> = {};
  const op = (name: string) => () =>
    new Promise<string>((resolve) => {
      log.push(`start ${name}`);
      gates[name] = () => {
        log.push(`end ${name}`);
        resolve(name);
      };
    });
  const r1 = lane.shared(op('r1'));
  const r2 = lane.shared(op('r2'));
  const w = lane.exclusive(op('w'));
  const r3 = lane.shared(op('r3'));
  await new Promise(setImmediate);
  t.same(log, ['start r1', 'start r2'], 'both reads run, the write waits');
  gates.r2?.();
  await r2;
  await new Promise(setImmediate);
  t.same(log.at(-1), 'end r2', 'the write still waits for r1');
  gates.r1?.();
  await r1;
  await new Promise(setImmediate);
  t.same(log.at(-1), 'start w');
  gates.w?.();
  await w;
  await new Promise(setImmediate);
  t.same(log.at(-1), 'start r3', 'the read after the write waited for it');
  gates.r3?.();
  t.equal(await r3, 'r3');
  const failed = lane.exclusive(() => Promise.reject(new Error('boom')));
  await t.rejects(failed, { message: 'boom' });
  t.equal(await lane.shared(async () => 'after'), 'after', 'a failure does not block the lane');
});
