// The directory a mount fills: taken only empty or new, put back as found;
// mount points read from mountinfo; the pieces of `run --mount`'s namespace.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { prepareMountDir, removeMount } from '../../src/volumes/mount-dir.js';
import { existingAncestor, submountsOf } from '../../src/volumes/private-mounts-linux.js';
import { mountsUnder, sshfsArgs } from '../../src/volumes/sshfs-linux.js';

const base = mkdtempSync(join(tmpdir(), 'kvpn-mount-dir-'));
t.teardown(() => rmSync(base, { recursive: true, force: true }));

t.test('a new directory is made, an empty one taken, anything else refused', async (t) => {
  t.equal(prepareMountDir(join(base, 'new/deep')), true, 'made, with its parents');
  mkdirSync(join(base, 'empty'));
  t.equal(prepareMountDir(join(base, 'empty')), false, 'an existing empty one');
  writeFileSync(join(base, 'empty', 'x'), '');
  t.throws(() => prepareMountDir(join(base, 'empty')), {
    code: 'KVPN_ERR_MOUNT_DIR_NOT_EMPTY',
    message: /not empty \(1 entry\)/,
  });
  t.throws(() => prepareMountDir(join(base, 'empty', 'x')), {
    code: 'KVPN_ERR_MOUNT_DIR_NOT_EMPTY',
    message: /is a file/,
  });
});

t.test('removeMount puts the directory back as it was found', async (t) => {
  const made = join(base, 'made');
  const staging = join(base, 'staging-1');
  prepareMountDir(made);
  mkdirSync(staging);
  mkdirSync(join(made, 'etc/config'), { recursive: true });
  t.equal(await removeMount(made, true, staging), true);
  t.notOk(existsSync(made), 'a directory kvpn made is removed');
  t.notOk(existsSync(staging), 'its scratch space too');
  const given = join(base, 'given');
  mkdirSync(join(given, 'var/lib'), { recursive: true });
  t.equal(await removeMount(given, false, join(base, 'staging-2')), true);
  t.same(readdirSync(given), [], "the user's own directory stays, emptied");
  t.equal(await removeMount(join(base, 'gone'), true, join(base, 'staging-3')), false, 'nothing there: absent');
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
