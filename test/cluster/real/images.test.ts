// The images built from this machine's files, run for real: a private
// containerd 1.6 (own root, state and socket; own mount, PID and network
// namespaces) imports them, and ctr runs node and busybox, postgres (initdb,
// psql from inside and from outside the container), pause (exits 0 on
// SIGTERM) and CoreDNS (as uid 65532, on port 53 through its file capability).
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isRoot } from '../../helpers/netns.js';
import { runTool } from './image-archive.js';
import {
  buildImages,
  COREDNS_IMAGE,
  COREDNS_IMAGE_PREVIOUS,
  COREDNS_REFS,
  IMAGE_REFS,
  type ImageArchive,
  importImages,
  NODE_IMAGE,
  PAUSE_IMAGE_CONTAINERD,
  POSTGRES_IMAGE,
} from './images.js';
import { TEST_IP, TestContainerd } from './images-test-containerd.js';

const TOOLS = ['containerd', 'ctr', 'runc', 'unshare', 'nsenter', 'gcc', 'tar', 'psql', 'dig', 'ss'];

async function missingTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of TOOLS) await runTool('which', [tool]).catch(() => missing.push(tool));
  return missing;
}

/** $KVPN_COREDNS_BINARY, or the one build-components.sh left in its cache. */
async function corednsBinary(): Promise<string | undefined> {
  if (process.env.KVPN_COREDNS_BINARY) return process.env.KVPN_COREDNS_BINARY;
  const cache = process.env.KVPN_REAL_CACHE ?? '/var/tmp/kvpn-real';
  const bins = (await readdir(cache).catch(() => [])).filter((d) => /^bin-[0-9a-f]+$/.test(d));
  for (const bin of bins) {
    const path = join(cache, bin, 'coredns');
    if (
      await stat(path).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return path;
  }
  return undefined;
}

if (!isRoot()) {
  t.plan(0, 'needs root: containerd, mounts and namespaces');
  process.exit(0);
}
const missing = await missingTools();
if (missing.length > 0) {
  t.plan(0, `needs ${missing.join(', ')}`);
  process.exit(0);
}

const work = await mkdtemp(join(tmpdir(), 'kvpn-images-'));
const coredns = await corednsBinary();
const expectedRefs = IMAGE_REFS.filter((r) => coredns || !COREDNS_REFS.includes(r));
let archives: ImageArchive[] = [];
let ctd: TestContainerd | undefined;
t.teardown(async () => {
  await ctd?.close();
  await rm(work, { recursive: true, force: true });
});

async function archiveJson(path: string, member: string): Promise<Record<string, unknown>> {
  return JSON.parse(await runTool('tar', ['-xOf', path, member]));
}

t.test('builds every image once, then reuses the tarballs as they are', async (t) => {
  const cache = join(work, 'cache');
  let start = performance.now();
  archives = await buildImages(cache, { corednsBinary: coredns });
  const coldMs = performance.now() - start;
  const mtimes = await Promise.all(archives.map(async (a) => (await stat(a.path)).mtimeMs));
  start = performance.now();
  const again = await buildImages(cache, { corednsBinary: coredns });
  const cachedMs = performance.now() - start;
  t.same(again, archives, 'the same tarballs');
  t.same(await Promise.all(again.map(async (a) => (await stat(a.path)).mtimeMs)), mtimes, 'not rewritten');
  t.same(archives.flatMap((a) => a.refs).sort(), [...expectedRefs].sort());
  for (const a of archives) {
    const [manifest] = (await archiveJson(a.path, 'manifest.json')) as unknown as {
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }[];
    t.same(manifest?.RepoTags, a.refs, `${a.refs[0]}: RepoTags`);
    const config = await archiveJson(a.path, manifest?.Config ?? '');
    t.match(config, { architecture: 'amd64', os: 'linux' });
    const layer = await runTool('sh', ['-c', `tar -xOf "$0" "$1" | sha256sum`, a.path, manifest?.Layers[0] ?? '']);
    t.same((config.rootfs as { diff_ids: string[] }).diff_ids, [`sha256:${layer.split(' ')[0]}`], 'diff_id');
    t.comment(`${a.refs[0]}: ${((await stat(a.path)).size / 1e6).toFixed(1)} MB`);
  }
  t.comment(`cold build ${coldMs.toFixed(0)} ms, cached ${cachedMs.toFixed(0)} ms`);
});

t.test('a private containerd 1.6 imports them under every ref', async (t) => {
  ctd = await TestContainerd.start(join(work, 'containerd'));
  await importImages(archives, { address: ctd.address });
  const refs = (await ctd.ctr(['images', 'ls', '-q'])).split('\n');
  for (const ref of expectedRefs) t.ok(refs.includes(ref), ref);
});

t.test('the node image runs node, and busybox as sh and its applets', async (t) => {
  const c = ctd as TestContainerd;
  t.equal((await c.run(NODE_IMAGE, 'node-eval', { cmd: ['node', '-e', 'console.log(1+1)'] })).trim(), '2');
  t.equal((await c.run(NODE_IMAGE, 'node-busybox', { cmd: ['busybox', 'sh', '-c', 'echo ok'] })).trim(), 'ok');
  const tools = await c.run(NODE_IMAGE, 'node-tools', {
    cmd: ['sh', '-c', 'id node; which wget nc timeout; ls -ld /tmp; echo "$NODE_VERSION"'],
  });
  t.match(tools, /uid=1000\(node\) gid=1000\(node\)/);
  t.match(tools, /^\/usr\/bin\/wget\n\/usr\/bin\/nc\n\/usr\/bin\/timeout$/m, 'applets as files on PATH');
  t.match(tools, /^drwxrwxrwt .* \/tmp$/m);
  t.match(tools, new RegExp(`^${process.versions.node}$`, 'm'));
});

t.test('the postgres image initialises, serves psql from inside and outside, and stops on SIGINT', async (t) => {
  const c = ctd as TestContainerd;
  const pg = c.start(POSTGRES_IMAGE, 'pg', { env: ['POSTGRES_HOST_AUTH_METHOD=trust'] });
  await pg.waitOutput(/database system is ready to accept connections/);
  t.match(pg.output, /PostgreSQL init process complete/);
  t.match(await c.exec('pg', ['pg_isready', '-h', TEST_IP]), /accepting connections/);
  t.equal((await c.exec('pg', ['psql', '-h', TEST_IP, '-U', 'postgres', '-Atc', 'select 1'])).trim(), '1');
  const outside = await c.inNetwork('psql', ['-h', TEST_IP, '-U', 'postgres', '-Atc', 'select current_user']);
  t.equal(outside.trim(), 'postgres', 'host psql over TCP, admitted by `host all all all trust`');
  t.same(await c.hostMounts(), [], 'the rootfs overlay is not mounted in the host namespace');
  await c.ctr(['tasks', 'kill', '-s', 'SIGINT', 'pg']);
  t.equal(await pg.exit, 0);
  t.match(pg.output, /database system is shut down/);
});

t.test('the pause image runs until SIGTERM and exits 0', async (t) => {
  const c = ctd as TestContainerd;
  const events = c.events();
  const pause = c.start(PAUSE_IMAGE_CONTAINERD, 'pause');
  await events.waitOutput(/\/tasks\/start .*"container_id":"pause"/);
  t.equal((await c.tasks()).get('pause'), 'RUNNING');
  await c.ctr(['tasks', 'kill', '-s', 'SIGTERM', 'pause']);
  t.equal(await pause.exit, 0);
  events.stop();
});

t.test(
  'the CoreDNS image serves port 53 as uid 65532',
  { skip: coredns ? false : 'no CoreDNS binary: run test/cluster/real/build-components.sh' },
  async (t) => {
    const c = ctd as TestContainerd;
    t.match(await c.run(COREDNS_IMAGE, 'dns-version', { cmd: ['/coredns', '-version'] }), /CoreDNS-/);
    // a Corefile with nothing to answer from: every query gets SERVFAIL, logged
    await writeFile(join(work, 'Corefile'), '.:53 {\n  log\n}\n');
    const dns = c.start(COREDNS_IMAGE_PREVIOUS, 'dns', {
      cmd: ['/coredns', '-conf', '/etc/coredns/Corefile'],
      mounts: [{ source: join(work, 'Corefile'), destination: '/etc/coredns/Corefile' }],
    });
    await dns.waitOutput(/CoreDNS-/);
    t.match(await c.inNetwork('ss', ['-ulne']), /:53\s.*uid:65532/, 'the socket belongs to uid 65532');
    const reply = await c.inNetwork('dig', [`@${TEST_IP}`, '+time=2', '+tries=1', 'who.am.i']);
    t.match(reply, /status: SERVFAIL/, 'a DNS reply from port 53');
    await dns.waitOutput(/who\.am\.i/);
    t.match(dns.output, /\[INFO\] 10\.250\.77\.1:\d+ - \d+ "A IN who\.am\.i\. udp/, 'its query log');
    await c.ctr(['tasks', 'kill', '-s', 'SIGTERM', 'dns']);
    await dns.exit;
  },
);

t.test('closing containerd leaves no mounts, cgroups or files behind', async (t) => {
  const c = ctd as TestContainerd;
  await c.close();
  t.same(await c.hostMounts(), []);
  t.same(await c.cgroupsLeft(), []);
  t.notOk(
    await stat(c.dir).then(
      () => true,
      () => false,
    ),
    'its directory is gone',
  );
});
