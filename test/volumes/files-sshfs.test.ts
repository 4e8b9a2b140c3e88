// The file server with its real client: sshfs -o directport through a
// forwarder that speaks the preamble, in a private mount namespace. A
// Kubernetes-style volume (..data and relative symlinks) reads as in the pod.
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { type RunningServer, startFilesServer } from './helpers/files-server.js';
import { startForwarder } from './helpers/forwarder.js';
import { sshfsMissing, withSshfs } from './helpers/sshfs.js';

const missing = sshfsMissing();
if (missing !== undefined) {
  t.comment(`skipping the sshfs tests: ${missing}`);
  t.pass('skipped');
} else {
  /** A configMap-like volume under root/config: files in a timestamped dir, reached through ..data. */
  const configVolume = (root: string): void => {
    const vol = join(root, 'config');
    mkdirSync(join(vol, '..2024_05_01_10_00_00.123'), { recursive: true });
    writeFileSync(join(vol, '..2024_05_01_10_00_00.123', 'app.yaml'), 'port: 8080\n');
    chmodSync(join(vol, '..2024_05_01_10_00_00.123', 'app.yaml'), 0o640);
    symlinkSync('..2024_05_01_10_00_00.123', join(vol, '..data'));
    symlinkSync('..data/app.yaml', join(vol, 'app.yaml'));
    mkdirSync(join(root, 'data'));
  };

  const serve = async (t: Test): Promise<{ server: RunningServer; port: number }> => {
    const server = await startFilesServer(t, { KVPN_FILES_IDLE_MS: '60000' });
    configVolume(server.root);
    return { server, port: await startForwarder(t, server.port, server.token) };
  };

  t.test('a volume reads, lists and writes through sshfs; unmount ends the connection', async (t) => {
    const { server, port } = await serve(t);
    const r = await withSshfs(
      t,
      port,
      [
        'echo "cat: $(cat "$MNT/config/app.yaml")"',
        'echo "stat: $(stat -c \'%a %s\' "$MNT/config/..data/app.yaml")"',
        'echo "link: $(readlink "$MNT/config/app.yaml")"',
        'echo "ls: $(ls -A "$MNT/config" | tr \'\\n\' \' \')"',
        'echo "ls-l: $(ls -l "$MNT/config" | grep app.yaml)"',
        'printf "written\\n" > "$MNT/data/out.txt"',
        'mkdir "$MNT/data/sub"',
        'mv "$MNT/data/out.txt" "$MNT/data/sub/moved.txt"',
        'echo "df: $(df -P "$MNT" | tail -1 | wc -w)"',
        'fusermount3 -u "$MNT"',
        'echo unmounted',
      ].join('\n'),
    );
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^cat: port: 8080$/m);
    t.match(r.stdout, /^stat: 640 11$/m);
    t.match(r.stdout, /^link: \.\.data\/app\.yaml$/m);
    t.match(r.stdout, /^ls: \.\.2024_05_01_10_00_00\.123 \.\.data app\.yaml $/m);
    t.match(r.stdout, /^ls-l: lrwxrwxrwx .* app\.yaml -> \.\.data\/app\.yaml$/m);
    t.match(r.stdout, /^df: 6$/m, 'statvfs answers');
    t.match(r.stdout, /^unmounted$/m);
    t.equal(readFileSync(join(server.root, 'data', 'sub', 'moved.txt'), 'utf8'), 'written\n');
    t.match(await server.logged((l) => l.msg === 'connection closed'), { open: 0, handles: 0 });
    t.notMatch(readFileSync('/proc/self/mountinfo', 'utf8'), /kvpn-sshfs-/, 'the host never saw the mount');
  });

  t.test('sshfs options kvpn uses work with directport (reconnect, idmap, max_conns)', async (t) => {
    const { server, port } = await serve(t);
    const r = await withSshfs(
      t,
      port,
      [
        'for i in 1 2 3 4; do cat "$MNT/config/app.yaml" > /dev/null & done; wait',
        'echo "cat: $(cat "$MNT/config/app.yaml")"',
        'echo "owner: $(stat -c %u "$MNT/config/..data/app.yaml")"',
      ].join('\n'),
      ['reconnect', 'idmap=user', 'max_conns=2', 'uid=4321', 'gid=4321', 'dcache_timeout=1'],
    );
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^cat: port: 8080$/m);
    t.match(r.stdout, /^owner: 4321$/m, 'uid= maps the owner');
    t.ok(server.logs.some((l) => l.msg === 'connection opened'));
  });
}
