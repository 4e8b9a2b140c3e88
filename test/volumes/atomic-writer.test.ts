// The kubelet's atomic-writer layout on a real disk: a timestamped dir, the
// ..data link swapped by rename, one link per top-level name, owned by the
// laptop user; an update swaps and cleans up, equal content writes nothing.
import { lstat, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { AtomicWriter, timestampDirPrefix, validatePayload } from '../../src/volumes/atomic-writer.js';
import type { Payload } from '../../src/volumes/projection.js';

const OWNER = { uid: 4321, gid: 8765 };
const OWNER_STAT = { uid: OWNER.uid, gid: OWNER.gid };
const asRoot = process.getuid?.() === 0;

function payload(files: Record<string, [string, number]>): Payload {
  return new Map(Object.entries(files).map(([p, [text, mode]]) => [p, { data: Buffer.from(text), mode }]));
}

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kvpn-aw-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const mode = async (path: string) => ((await stat(path)).mode & 0o7777).toString(8);

t.test('timestamped dir names: ..YYYY_MM_DD_HH_MM_SS. in UTC', async (t) => {
  t.equal(timestampDirPrefix(new Date(Date.UTC(2024, 0, 2, 3, 4, 5))), '..2024_01_02_03_04_05.');
});

t.test('first write: the layout the container sees', async (t) => {
  const dir = await tempDir(t);
  const writer = new AtomicWriter(dir, {
    owner: asRoot ? OWNER : undefined,
    now: () => new Date(Date.UTC(2024, 4, 1, 10, 20, 30)),
  });
  const wrote = await writer.write(
    payload({ 'app.yaml': ['port: 8080\n', 0o644], 'conf/db/password': ['pw', 0o400], 'conf/level': ['debug', 0o440] }),
  );
  t.equal(wrote, true);
  const entries = (await readdir(dir)).sort();
  const ts = entries.find((e) => e.startsWith('..2'));
  t.match(ts, /^\.\.2024_05_01_10_20_30\.\d{1,10}$/, 'a timestamped dir with a random decimal suffix');
  t.same(entries, ['..data', ts, 'app.yaml', 'conf'].sort(), 'nothing else: no ..data_tmp left');
  t.equal(await readlink(join(dir, '..data')), ts, '..data -> the timestamped dir (relative)');
  t.equal(await readlink(join(dir, 'app.yaml')), '..data/app.yaml');
  t.equal(await readlink(join(dir, 'conf')), '..data/conf', 'one link per top-level name, not per file');
  t.equal(await readFile(join(dir, 'conf/db/password'), 'utf8'), 'pw');
  t.equal(await mode(join(dir, 'app.yaml')), '644', 'file modes exactly, through the links');
  t.equal(await mode(join(dir, 'conf/db/password')), '400');
  t.equal(await mode(join(dir, 'conf/level')), '440');
  t.equal(await mode(join(dir, ts as string)), '755', 'the timestamped dir is 0755');
  t.equal(await mode(join(dir, 'conf')), '755', 'subdirectories 0755');
  t.equal(await mode(join(dir, 'conf/db')), '755');
  if (asRoot) {
    for (const p of ['..data', 'app.yaml', 'conf'])
      t.match(await lstat(join(dir, p)), OWNER_STAT, `link ${p} lchowned`);
    for (const p of [ts as string, `${ts}/app.yaml`, `${ts}/conf`, `${ts}/conf/db`, `${ts}/conf/db/password`])
      t.match(await lstat(join(dir, p)), OWNER_STAT, `${p} chowned`);
  }
});

t.test('an update swaps ..data, drops stale names and the old dir', async (t) => {
  const dir = await tempDir(t);
  let second = 0;
  const writer = new AtomicWriter(dir, { now: () => new Date(Date.UTC(2024, 4, 1, 10, 20, second++)) });
  await writer.write(payload({ a: ['1', 0o644], b: ['2', 0o644], 'sub/x': ['x', 0o644], 'sub/y': ['y', 0o644] }));
  const before = await readlink(join(dir, '..data'));
  t.equal(
    await writer.write(payload({ a: ['1 changed', 0o644], 'sub/x': ['x', 0o644], c: ['3', 0o600] })),
    true,
    'changed content is written',
  );
  const after = await readlink(join(dir, '..data'));
  t.not(after, before, '..data points at a new dir');
  t.same(
    (await readdir(dir)).sort(),
    ['..data', after, 'a', 'c', 'sub'].sort(),
    'b is gone, c is new, the old dir is removed',
  );
  t.equal(await readFile(join(dir, 'a'), 'utf8'), '1 changed');
  t.equal(await mode(join(dir, 'c')), '600');
  t.same(await readdir(join(dir, 'sub')), ['x'], 'sub/y went with the old dir');
});

t.test('unchanged content writes nothing; a removed name alone is an update', async (t) => {
  const dir = await tempDir(t);
  const writer = new AtomicWriter(dir);
  await writer.write(payload({ a: ['1', 0o644], b: ['2', 0o644] }));
  const ts = await readlink(join(dir, '..data'));
  t.equal(await writer.write(payload({ a: ['1', 0o644], b: ['2', 0o644] })), false, 'same bytes: no write');
  t.equal(await readlink(join(dir, '..data')), ts, 'no new dir');
  await rm(join(dir, 'b'));
  t.equal(await writer.write(payload({ a: ['1', 0o644], b: ['2', 0o644] })), false);
  t.equal(await readlink(join(dir, 'b')), '..data/b', 'a missing top-level link is put back even so');
  t.equal(await writer.write(payload({ a: ['1', 0o644] })), true, 'b left the payload: a new version');
  t.same(
    (await readdir(dir)).filter((e) => !e.startsWith('..')),
    ['a'],
  );
});

t.test('an empty payload still makes ..data (an optional object that is missing)', async (t) => {
  const dir = await tempDir(t);
  t.equal(await new AtomicWriter(dir).write(new Map()), true);
  const ts = await readlink(join(dir, '..data'));
  t.same((await readdir(dir)).sort(), ['..data', ts].sort());
});

t.test('a leftover ..data_tmp from a crash does not block the swap; foreign files are left alone', async (t) => {
  const dir = await tempDir(t);
  await symlink('..nowhere', join(dir, '..data_tmp'));
  await writeFile(join(dir, 'a'), 'not a link');
  await new AtomicWriter(dir).write(payload({ a: ['1', 0o644], b: ['2', 0o644] }));
  t.equal(await readFile(join(dir, 'a'), 'utf8'), 'not a link', 'the kubelet does not replace what is not its link');
  t.equal(await readFile(join(dir, 'b'), 'utf8'), '2');
  t.notOk((await readdir(dir)).includes('..data_tmp'));
});

t.test('paths the kubelet refuses', async (t) => {
  const bad = (path: string) => () => validatePayload(payload({ [path]: ['', 0o644] }));
  t.throws(bad(''), { code: 'KVPN_ERR_MOUNT_INVALID_PATH', message: /must not be empty/ });
  t.throws(bad('/etc/passwd'), { message: /must be relative/ });
  t.throws(bad('a/../../b'), { message: /must not contain '\.\.'/ });
  t.throws(bad('..data'), { message: /must not start with '\.\.'/ });
  t.throws(bad('x'.repeat(256)), { message: /at most 255/ });
  t.same([...validatePayload(payload({ './a//b/': ['', 0o644] })).keys()], ['a/b'], 'cleaned as filepath.Clean');
});
