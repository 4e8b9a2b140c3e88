// The real test world's container images, built from this machine's files
// (no registry, no pulls): pause (our C program), node (the host's node and
// its libraries + busybox), postgres (Debian's server + an entrypoint that
// acts like the official image's) and CoreDNS (a binary built elsewhere).
// Each image is one docker-archive tarball in `cacheDir/images`, named by a
// key over its inputs, so an unchanged machine reuses the tarballs as they
// are; importImages hands them to containerd's k8s.io namespace.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, realpath, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ImageArchive,
  ImageArchiveError,
  type ImageRuntimeConfig,
  runTool,
  writeDockerArchive,
} from './image-archive.js';
import { RootfsStage } from './images-rootfs.js';

export type { ImageArchive } from './image-archive.js';

export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
/** containerd 1.6's default `sandbox_image`. */
export const PAUSE_IMAGE_CONTAINERD = 'registry.k8s.io/pause:3.6';
export const NODE_IMAGE = 'docker.io/library/node:22-alpine';
export const POSTGRES_IMAGE = 'docker.io/library/postgres:15';
export const COREDNS_IMAGE = 'registry.k8s.io/coredns/coredns:v1.12.4';
/** The CoreDNS tag kubeadm v1.31 and v1.32 deploy. */
export const COREDNS_IMAGE_PREVIOUS = 'registry.k8s.io/coredns/coredns:v1.11.3';
const PAUSE_REFS = [PAUSE_IMAGE, PAUSE_IMAGE_CONTAINERD];
const NODE_REFS = [NODE_IMAGE];
const POSTGRES_REFS = [POSTGRES_IMAGE];
export const COREDNS_REFS = [COREDNS_IMAGE, COREDNS_IMAGE_PREVIOUS];
export const IMAGE_REFS: readonly string[] = [...PAUSE_REFS, ...NODE_REFS, ...POSTGRES_REFS, ...COREDNS_REFS];

export interface BuildImagesOptions {
  /** A static CoreDNS binary; without it the CoreDNS image is not built. */
  corednsBinary?: string;
  /** Defaults to the node running this code. */
  nodeBinary?: string;
  /** A static busybox. */
  busybox?: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));
/** What the images are made by: a change to any of these rebuilds them. */
const SOURCES = ['images.ts', 'images-rootfs.ts', 'image-archive.ts', 'pause.c', 'postgres-entrypoint.sh'];
/** Changes whenever a Debian package is installed or upgraded: libraries, postgres, busybox, gcc. */
const DPKG_STATUS = '/var/lib/dpkg/status';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PG_ROOT = '/usr/lib/postgresql';
const POSTGRES_UID = 999;
const NODE_UID = 1000;
const NONROOT_UID = 65532;
const PAUSE_UID = 65535;

interface Recipe {
  name: string;
  refs: string[];
  /** Host files whose size and mtime go into the cache key (beyond SOURCES and dpkg). */
  inputs: string[];
  fill(stage: RootfsStage): Promise<{ config: ImageRuntimeConfig; xattrs?: boolean; keepIds?: number[] }>;
}

interface Account {
  name: string;
  uid: number;
  home: string;
  shell?: string;
}

async function writeAccounts(stage: RootfsStage, accounts: Account[]): Promise<void> {
  const all = [
    { name: 'root', uid: 0, home: '/root' },
    ...accounts,
    { name: 'nobody', uid: 65534, home: '/nonexistent' },
  ];
  await stage.writeFile(
    '/etc/passwd',
    all.map((a) => `${a.name}:x:${a.uid}:${a.uid}:${a.name}:${a.home}:${a.shell ?? '/bin/sh'}\n`).join(''),
  );
  await stage.writeFile('/etc/group', all.map((a) => `${a.name}:x:${a.uid}:\n`).join(''));
  await stage.mkdir('/root', 0o700);
  await stage.mkdir('/tmp', 0o1777);
  for (const a of accounts) {
    await stage.mkdir(a.home, 0o755);
    await stage.chown(a.home, a.uid, a.uid);
  }
}

/** busybox as /bin/busybox with a /bin symlink per applet (sh, ls, wget, nc, timeout, ps…). */
async function addBusybox(stage: RootfsStage, busybox: string): Promise<void> {
  await stage.addHostPath('/bin'); // the host's /bin → usr/bin on merged-/usr systems
  await stage.addWithLibraries([busybox]);
  if (!(await stage.exists('/bin/busybox'))) await stage.symlink('/bin/busybox', busybox);
  const applets = (await runTool(busybox, ['--list'])).split('\n').filter((a) => a && a !== 'busybox');
  for (const applet of applets)
    if (!(await stage.exists(`/bin/${applet}`))) await stage.symlink(`/bin/${applet}`, '/bin/busybox');
}

function pauseRecipe(): Recipe {
  return {
    name: 'pause',
    refs: PAUSE_REFS,
    inputs: [],
    async fill(stage) {
      await runTool('gcc', ['-static', '-O2', '-s', '-o', join(stage.dir, 'pause'), join(HERE, 'pause.c')]);
      return { config: { Entrypoint: ['/pause'], User: `${PAUSE_UID}:${PAUSE_UID}` } };
    },
  };
}

function nodeRecipe(node: string, busybox: string): Recipe {
  return {
    name: 'node',
    refs: NODE_REFS,
    inputs: [node, busybox],
    async fill(stage) {
      const version = (await runTool(node, ['-p', 'process.versions.node'])).trim();
      await addBusybox(stage, busybox);
      const real = await realpath(node);
      await stage.addWithLibraries([real]);
      // where the official image has it; PATH finds it either way
      if (!(await stage.exists('/usr/local/bin/node'))) await stage.symlink('/usr/local/bin/node', real);
      await writeAccounts(stage, [{ name: 'node', uid: NODE_UID, home: '/home/node' }]);
      return {
        config: { Env: [PATH_ENV, `NODE_VERSION=${version}`], Cmd: ['node'] },
        keepIds: [NODE_UID],
      };
    },
  };
}

/** Debian's newest installed PostgreSQL: /usr/lib/postgresql/<major>. */
async function postgresMajor(): Promise<string> {
  const majors = (await readdir(PG_ROOT).catch(() => [])).filter((d) => /^\d+$/.test(d));
  const major = majors.sort((a, b) => Number(b) - Number(a))[0];
  if (!major) throw new ImageArchiveError(`no PostgreSQL server under ${PG_ROOT} (apt-get install -y postgresql)`);
  return major;
}

function postgresRecipe(major: string, busybox: string): Recipe {
  const bin = `${PG_ROOT}/${major}/bin`;
  const lib = `${PG_ROOT}/${major}/lib`;
  const share = `/usr/share/postgresql/${major}`;
  return {
    name: 'postgres',
    refs: POSTGRES_REFS,
    inputs: [bin, lib, share, busybox],
    async fill(stage) {
      const version = /\(PostgreSQL\) (\S+)/.exec(await runTool(`${bin}/postgres`, ['--version']))?.[1] ?? major;
      await addBusybox(stage, busybox);
      const bins = (await readdir(bin)).map((f) => `${bin}/${f}`);
      // llvmjit would pull in libLLVM (~100 MB); without it the server runs with JIT off
      const libs = (await readdir(lib)).filter((f) => f.endsWith('.so') && !f.startsWith('llvmjit'));
      await stage.addWithLibraries([...bins, ...libs.map((f) => `${lib}/${f}`)]);
      await stage.addHostTree(share, (p) => p === `${share}/man`);
      await stage.addHostTree('/usr/share/zoneinfo');
      const utf8 = await stat('/usr/lib/locale/C.utf8').then(
        () => true,
        () => false,
      );
      if (utf8) await stage.addHostTree('/usr/lib/locale/C.utf8');
      await stage.writeFile(
        '/usr/local/bin/docker-entrypoint.sh',
        await readFile(join(HERE, 'postgres-entrypoint.sh'), 'utf8'),
        0o755,
      );
      await writeAccounts(stage, [{ name: 'postgres', uid: POSTGRES_UID, home: '/var/lib/postgresql' }]);
      for (const [dir, mode] of [
        ['/var/lib/postgresql/data', 0o1777],
        ['/var/run/postgresql', 0o3777],
        ['/docker-entrypoint-initdb.d', 0o755],
      ] as const) {
        await stage.mkdir(dir, mode);
        if (dir !== '/docker-entrypoint-initdb.d') await stage.chown(dir, POSTGRES_UID, POSTGRES_UID);
      }
      return {
        config: {
          Entrypoint: ['docker-entrypoint.sh'],
          Cmd: ['postgres'],
          Env: [
            `${PATH_ENV}:${bin}`,
            `PG_MAJOR=${major}`,
            `PG_VERSION=${version}`,
            'PGDATA=/var/lib/postgresql/data',
            ...(utf8 ? ['LANG=C.UTF-8'] : []),
          ],
          StopSignal: 'SIGINT',
          ExposedPorts: { '5432/tcp': {} },
        },
        keepIds: [POSTGRES_UID],
      };
    },
  };
}

function corednsRecipe(coredns: string): Recipe {
  return {
    name: 'coredns',
    refs: COREDNS_REFS,
    inputs: [coredns],
    async fill(stage) {
      const staged = await stage.copyHostFile(coredns, '/coredns', 0o755);
      await stage.addLibrariesOf([coredns]); // none when built with CGO_ENABLED=0, as upstream does
      // as upstream's image: port 53 as uid 65532 when the pod grants NET_BIND_SERVICE
      await runTool('setcap', ['cap_net_bind_service=+ep', staged]);
      await writeAccounts(stage, [
        { name: 'nonroot', uid: NONROOT_UID, home: '/home/nonroot', shell: '/sbin/nologin' },
      ]);
      return {
        config: {
          Entrypoint: ['/coredns'],
          User: `${NONROOT_UID}:${NONROOT_UID}`,
          ExposedPorts: { '53/tcp': {}, '53/udp': {} },
        },
        xattrs: true,
        keepIds: [NONROOT_UID],
      };
    },
  };
}

async function sourcesDigest(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of SOURCES) hash.update(file).update(await readFile(join(HERE, file)));
  const dpkg = await stat(DPKG_STATUS).catch(() => undefined);
  hash.update(`dpkg ${dpkg?.size}:${dpkg?.mtimeMs}`);
  return hash.digest('hex');
}

async function cacheKey(recipe: Recipe, common: string): Promise<string> {
  const hash = createHash('sha256').update(common).update(recipe.name).update(recipe.refs.join(','));
  for (const input of recipe.inputs) {
    const st = await stat(input);
    hash.update(`${input} ${st.size}:${st.mtimeMs}:${st.ino}`);
  }
  return hash.digest('hex').slice(0, 16);
}

async function buildOne(dir: string, recipe: Recipe, common: string): Promise<ImageArchive> {
  const key = await cacheKey(recipe, common);
  const out = join(dir, `${recipe.name}-${key}.tar`);
  if (
    await stat(out).then(
      (s) => s.isFile(),
      () => false,
    )
  )
    return { refs: recipe.refs, path: out };
  const stage = await RootfsStage.create(join(dir, `${recipe.name}-${key}.rootfs-${process.pid}`));
  try {
    const built = await recipe.fill(stage);
    await writeDockerArchive({ rootfs: stage.dir, refs: recipe.refs, out, ...built });
  } finally {
    await stage.remove();
  }
  await prune(dir, recipe.name, out);
  return { refs: recipe.refs, path: out };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Older builds of an image (~100 MB each for node) and what crashed builds left (…rootfs-PID, …partial-PID). */
async function prune(dir: string, name: string, keep: string): Promise<void> {
  for (const f of await readdir(dir)) {
    if (!f.startsWith(`${name}-`) || join(dir, f) === keep) continue;
    const pid = /\.(?:rootfs|work|partial)-(\d+)$/.exec(f)?.[1];
    if (pid ? !isAlive(Number(pid)) : f.endsWith('.tar')) await rm(join(dir, f), { recursive: true, force: true });
  }
}

/** Builds (or finds in `cacheDir/images`) every image; CoreDNS only with `corednsBinary`. */
export async function buildImages(cacheDir: string, opts: BuildImagesOptions = {}): Promise<ImageArchive[]> {
  const dir = join(cacheDir, 'images');
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const busybox = opts.busybox ?? '/bin/busybox';
  const recipes = [
    pauseRecipe(),
    nodeRecipe(opts.nodeBinary ?? process.execPath, busybox),
    postgresRecipe(await postgresMajor(), busybox),
  ];
  if (opts.corednsBinary) recipes.push(corednsRecipe(opts.corednsBinary));
  const common = await sourcesDigest();
  return Promise.all(recipes.map((r) => buildOne(dir, r, common)));
}

/**
 * Imports the archives into containerd's k8s.io namespace (where the CRI
 * looks) and makes sure every ref exists, tagging any the import missed.
 */
export async function importImages(archives: ImageArchive[], ctr: { address: string; binary?: string }): Promise<void> {
  const base = ['--address', ctr.address, '-n', 'k8s.io'];
  const bin = ctr.binary ?? 'ctr';
  for (const a of archives) await runTool(bin, [...base, 'images', 'import', '--all-platforms', a.path]);
  const have = new Set((await runTool(bin, [...base, 'images', 'ls', '-q'])).split('\n'));
  for (const a of archives) {
    const [first, ...rest] = a.refs;
    if (!first || !have.has(first)) throw new ImageArchiveError(`${a.path}: ${first} missing after import`);
    const missing = rest.filter((r) => !have.has(r));
    if (missing.length > 0) await runTool(bin, [...base, 'images', 'tag', first, ...missing]);
  }
}
