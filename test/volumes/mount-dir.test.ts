// The directory a mount fills: taken only empty or new, put back as found;
// mount points read from mountinfo; the pieces of `run --mount`'s namespace.
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { prepareMountDir, removeMount } from '../../src/volumes/mount-dir.js';
import { existingAncestor, mountOf, submountsOf } from '../../src/volumes/private-mounts-linux.js';
import { mountsUnder, sshfsArgs } from '../../src/volumes/sshfs-linux.js';

const base = mkdtempSync(join(tmpdir(), 'kvpn-mount-dir-'));
t.teardown(() => rmSync(base, { recursive: true, force: true }));

t.test('a new directory is made, an empty private one taken, anything else refused', async (t) => {
  t.equal(prepareMountDir(join(base, 'new/deep')), true, 'made, with its parents');
  t.equal(statSync(join(base, 'new/deep')).mode & 0o777, 0o700, 'nobody else may read it');
  mkdirSync(join(base, 'empty'), { mode: 0o700 });
  t.equal(prepareMountDir(join(base, 'empty')), false, 'an existing empty one');
  chmodSync(join(base, 'empty'), 0o755);
  t.throws(() => prepareMountDir(join(base, 'empty')), {
    code: 'KVPN_ERR_MOUNT_DIR',
    message: /may be read by others \(mode 755\)/,
  });
  chmodSync(join(base, 'empty'), 0o700);
  chownSync(join(base, 'empty'), 4243, 4243);
  t.throws(
    () => prepareMountDir(join(base, 'empty'), { uid: 4242, gid: 4242 }),
    {
      code: 'KVPN_ERR_MOUNT_DIR',
      message: /belongs to another user/,
    },
    "not root's or the user's",
  );
  chownSync(join(base, 'empty'), 0, 0);
  writeFileSync(join(base, 'empty', 'x'), '');
  t.throws(() => prepareMountDir(join(base, 'empty')), {
    code: 'KVPN_ERR_MOUNT_DIR_NOT_EMPTY',
    message: /not empty \(1 entry\)/,
  });
  t.throws(() => prepareMountDir(join(base, 'empty', 'x')), {
    code: 'KVPN_ERR_MOUNT_DIR_NOT_EMPTY',
    message: /is not a directory/,
  });
});

const filled = (dir: string, createdDir: boolean, staging: string, entries?: string[]) => {
  const { dev, ino } = statSync(dir);
  return { dir, createdDir, staging, dev, ino, entries };
};

t.test('removeMount puts the directory back as it was found', async (t) => {
  const made = join(base, 'made');
  const staging = join(base, 'staging-1');
  prepareMountDir(made);
  mkdirSync(staging);
  mkdirSync(join(made, 'etc/config'), { recursive: true });
  t.equal(await removeMount(filled(made, true, staging)), true);
  t.notOk(existsSync(made), 'a directory kvpn made is removed');
  t.notOk(existsSync(staging), 'its scratch space too');
  const given = join(base, 'given');
  mkdirSync(join(given, 'var/lib'), { recursive: true });
  const record = filled(given, false, join(base, 'staging-2'), ['var']);
  writeFileSync(join(given, 'mine.txt'), 'the user wrote this later');
  t.equal(await removeMount(record), true);
  t.same(readdirSync(given), ['mine.txt'], "the user's own directory stays, with what kvpn did not make");
  t.equal(
    await removeMount({ dir: join(base, 'gone'), createdDir: true, staging: join(base, 'staging-3') }),
    false,
    'nothing there: absent',
  );
});

t.test('a directory moved or replaced since is left alone; symlinks are not followed', async (t) => {
  const victim = join(base, 'victim');
  mkdirSync(join(victim, 'etc'), { recursive: true });
  writeFileSync(join(victim, 'etc', 'keep'), 'precious');
  const dir = join(base, 'moved');
  mkdirSync(join(dir, 'etc'), { recursive: true });
  const record = filled(dir, true, join(base, 'staging-4'), ['etc']);
  renameSync(dir, join(base, 'moved-away'));
  symlinkSync(victim, dir);
  await t.rejects(removeMount(record), { code: 'KVPN_ERR_MOUNT_DIR_CHANGED' });
  t.equal(readFileSync(join(victim, 'etc', 'keep'), 'utf8'), 'precious', 'nothing removed through the symlink');
  rmSync(dir);
  const own = join(base, 'own');
  mkdirSync(own);
  symlinkSync(victim, join(own, 'etc'));
  await removeMount(filled(own, true, join(base, 'staging-5'), ['etc']));
  t.equal(readFileSync(join(victim, 'etc', 'keep'), 'utf8'), 'precious', 'a symlink inside is removed, not followed');
  t.notOk(existsSync(own));
});

const MOUNTINFO = [
  '22 1 0:21 / / rw shared:1 - ext4 /dev/vda rw',
  '30 22 0:25 / /run rw shared:5 - tmpfs tmpfs rw',
  '31 30 0:26 / /run/user/1000 rw shared:6 - tmpfs tmpfs rw',
  '32 31 0:40 / /run/user/1000/kvpn/web\\040x/var/lib/data rw - fuse.kvpn kvpn rw',
  '33 31 0:41 / /run/user/1000/kvpn/web\\040x/var/lib/data/cache rw - fuse.kvpn kvpn rw',
  '34 30 0:27 / /run/netns rw shared:7 - tmpfs tmpfs rw',
  '35 22 0:28 / /runner rw - tmpfs tmpfs rw',
].join('\n');

t.test('mount points under a directory, deepest first, octal escapes read', async (t) => {
  t.same(mountsUnder('/run/user/1000/kvpn/web x', MOUNTINFO), [
    '/run/user/1000/kvpn/web x/var/lib/data/cache',
    '/run/user/1000/kvpn/web x/var/lib/data',
  ]);
  t.same(mountsUnder('/run/user/1000/kvpn/web', MOUNTINFO), [], 'a name prefix is not a parent');
});

t.test("run --mount: an overlay's submounts to bind back, the ancestor it goes on", async (t) => {
  t.same(
    submountsOf('/run', MOUNTINFO),
    ['/run/user/1000', '/run/netns'],
    'first-level only; /runner is not under /run',
  );
  const exists = (p: string) => ['/', '/var', '/run'].includes(p);
  t.equal(existingAncestor('/var/run/secrets/kubernetes.io/serviceaccount', exists), '/var');
  t.equal(existingAncestor('/data', exists), '/');
  t.equal(mountOf('/run/user/1000/x', MOUNTINFO), '/run/user/1000', 'a folder is on its deepest mount');
  t.equal(mountOf('/run/x', MOUNTINFO), '/run');
  t.equal(mountOf('/runner/x', MOUNTINFO), '/runner');
  t.equal(mountOf('/etc', MOUNTINFO), '/');
});

t.test('sshfs speaks SFTP to the forwarder, as the user, read-only unless asked', async (t) => {
  const args = sshfsArgs({
    port: 40123,
    remotePath: '/data/sub',
    mountpoint: '/m/var/lib/data',
    readOnly: true,
    owner: { uid: 1000, gid: 1000 },
  });
  t.equal(args[0], '127.0.0.1:/data/sub');
  t.equal(args[1], '/m/var/lib/data');
  const options = (args[3] as string).split(',');
  for (const o of ['directport=40123', 'allow_other', 'default_permissions', 'uid=1000', 'gid=1000', 'reconnect', 'ro'])
    t.ok(options.includes(o), o);
});
