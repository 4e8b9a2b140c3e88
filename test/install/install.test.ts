// The install a user does: `npm pack` the package as it would be published,
// then `npm install -g` the tarball into a fresh prefix on a PATH with Node and
// coreutils but no C compiler, no make and no Python, and run kvpn from there.
// Proves the prebuilt TUN addon ships and loads (nothing is compiled), and that
// the tarball carries only what a user needs. Dependencies come from the npm
// cache that `npm ci` filled (--prefer-offline).
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const HOST_PREBUILD_DIR = `prebuilds/linux-${process.arch}`;

/** What the sandbox PATH offers: Node, npm and the coreutils npm scripts and `sh -c` use. */
const SANDBOX_TOOLS = ['sh', 'env', 'cat', 'ls', 'mkdir', 'rm', 'cp', 'mv', 'ln', 'chmod', 'uname', 'dirname'];
/** What a source build of the addon would need; none of it may be reachable. */
const BUILD_TOOLS = ['cc', 'gcc', 'c++', 'g++', 'make', 'python3', 'python'];

if (process.platform !== 'linux') {
  t.plan(0, 'the TUN addon and its prebuilts are Linux-only');
  process.exit(0);
}

/**
 * A user's shell environment: HOME (so npm finds its cache) and PATH, none of
 * the npm_* variables of `npm test` nor tap's NODE_OPTIONS hooks.
 */
function userEnv(path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: path };
  // The user's own network settings too: behind a TLS-inspecting proxy npm needs its CA and proxy.
  const kept = /^(HOME|USER|LANG|TMPDIR|NODE_EXTRA_CA_CERTS|SSL_CERT_(FILE|DIR)|(HTTPS?|NO)_PROXY)$/i;
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && kept.test(k)) env[k] = v;
  return env;
}

function whichOnPath(path: string, tool: string): string | undefined {
  return path
    .split(delimiter)
    .map((dir) => join(dir, tool))
    .find((p) => existsSync(p));
}

const scratch = mkdtempSync(join(tmpdir(), 'kvpn-install-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

t.before(async () => {
  if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
});

interface PackedFile {
  path: string;
  size: number;
}
let tarball = '';
let packedFiles: PackedFile[] = [];

t.test(
  'npm pack: the tarball carries the prebuilt addon, the source fallback and nothing of ours besides',
  async (t) => {
    // What `npm pack`/`npm publish` run first (prepack), for this host's
    // architecture only: the cross-compiled arm64 build is the release's job.
    await run(process.execPath, ['scripts/prebuild.mjs', '--arch', process.arch], { cwd: ROOT });
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], {
      cwd: ROOT,
      env: userEnv(process.env.PATH ?? ''),
      maxBuffer: 64 * 1024 * 1024,
    });
    const [info] = JSON.parse(stdout) as {
      filename: string;
      size: number;
      unpackedSize: number;
      files: PackedFile[];
    }[];
    if (!info) throw new Error(`npm pack printed no tarball: ${stdout}`);
    tarball = join(scratch, info.filename);
    packedFiles = info.files;
    const paths = packedFiles.map((f) => f.path);
    t.comment(
      `${info.filename}: ${(info.size / 1024).toFixed(0)} KiB packed, ${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${paths.length} files`,
    );

    t.ok(paths.includes('dist/src/cli/main.js'), 'the CLI');
    t.ok(paths.includes('dist/relay/relay.js'), 'the relay bundle');
    t.ok(
      paths.some((p) => p.startsWith(`${HOST_PREBUILD_DIR}/`) && p.endsWith('.node')),
      `a prebuilt addon in ${HOST_PREBUILD_DIR}/`,
    );
    t.ok(paths.includes('binding.gyp') && paths.includes('src/tun/native/tun.c'), 'the source fallback');

    const allowedRoots = ['LICENSE', 'README.md', 'binding.gyp', 'dist', 'package.json', 'prebuilds', 'src'];
    t.same(
      [...new Set(paths.map((p) => p.split('/')[0] ?? p))].filter((r) => !allowedRoots.includes(r)),
      [],
      'only dist, prebuilds, the addon sources, package.json, README and LICENSE at the top',
    );
    const unwanted = paths.filter(
      (p) =>
        /^(test|bench|build|scripts|docs|coverage|\.tap|node_modules)\//.test(p) ||
        /^dist\/(test|bench|scripts)\//.test(p) ||
        /\.test\.(js|ts)(\.map)?$/.test(p) ||
        /\.(o|a|mk|gypi|tmp|log)$/.test(p) ||
        /(^|\/)(Makefile|config\.gypi)$/.test(p) ||
        (p.startsWith('src/') && !p.startsWith('src/tun/native/')),
    );
    t.same(unwanted, [], 'no tests, benchmarks, test source maps, build dirs or objects');
    t.same(
      paths.filter((p) => p.startsWith('src/')),
      ['src/tun/native/tun.c'],
      'of src/, only the addon source that the fallback build compiles',
    );
    const nodeFiles = paths.filter((p) => p.endsWith('.node'));
    t.ok(
      nodeFiles.every((p) => /^prebuilds\/linux-(x64|arm64)\/[^/]+\.node$/.test(p)),
      `native binaries only under prebuilds/ (${nodeFiles.join(', ')})`,
    );
    t.ok(info.size < 2 * 1024 * 1024, 'under 2 MiB packed');
  },
);

t.test('npm install -g from the tarball with no compiler, make or Python, then kvpn runs', async (t) => {
  if (!tarball) return t.fail('no tarball (the pack test failed)');
  // A PATH a compiler-less user might have: node, npm and coreutils.
  const bin = join(scratch, 'sandbox-bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const npmCli = realpathSync(whichOnPath(process.env.PATH ?? '', 'npm') ?? 'npm');
  symlinkSync(npmCli, join(bin, 'npm'));
  for (const tool of SANDBOX_TOOLS) {
    const found = whichOnPath('/usr/bin:/bin', tool);
    if (found) symlinkSync(found, join(bin, tool));
  }
  const sandboxPath = bin;
  for (const tool of BUILD_TOOLS) t.equal(whichOnPath(sandboxPath, tool), undefined, `${tool} is not on the PATH`);
  const shWhich = await run(join(bin, 'sh'), ['-c', `command -v ${BUILD_TOOLS.join(' ')} || true`], {
    env: userEnv(sandboxPath),
  });
  t.equal(shWhich.stdout.trim(), '', 'sh -c "command -v cc make python3 …" finds none of them');

  const prefix = join(scratch, 'prefix');
  const env = userEnv(`${join(prefix, 'bin')}${delimiter}${sandboxPath}`);
  const t0 = Date.now();
  const install = await run(
    'npm',
    [
      'install',
      '--global',
      '--prefix',
      prefix,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--foreground-scripts',
      tarball,
    ],
    { env, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
  );
  t.comment(`npm install -g of the tarball: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  t.notMatch(install.stdout + install.stderr, /gyp (info|ERR)/, 'node-gyp never ran');

  const installed = join(prefix, 'lib/node_modules', PKG.name);
  t.notOk(existsSync(join(installed, 'build')), 'nothing was compiled (no build/ in the installed package)');
  const loaded = await run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { createRequire } from 'node:module';
       const require = createRequire(${JSON.stringify(`${installed}/package.json`)});
       const path = require('node-gyp-build').resolve(${JSON.stringify(installed)});
       const { loadAddon } = await import(${JSON.stringify(`${installed}/dist/src/tun/device-linux.js`)});
       console.log(JSON.stringify({ path, trim: typeof loadAddon().trimNativeHeap() }));`,
    ],
    { env },
  );
  const addon = JSON.parse(loaded.stdout) as { path: string; trim: string };
  t.match(addon.path, `${installed}/${HOST_PREBUILD_DIR}/`, 'the TUN addon loads from the shipped prebuilt');
  t.equal(addon.trim, 'boolean', 'and its functions run');

  // package.json "overrides" never reach a user's install, which resolves the ranges afresh:
  // nothing installed may need a newer Node than the one kvpn supports (docs/install.md).
  const tooNew = enginesBeyond(join(installed, 'node_modules'), process.versions.node);
  t.same(tooNew, [], `no installed dependency needs a newer Node than ${process.version}`);

  const version = await run(join(prefix, 'bin/kvpn'), ['version'], { env }).catch((err) => err);
  t.match(version.stdout, new RegExp(`^kvpn ${PKG.version.replace(/\./g, '\\.')} `), 'kvpn version');
  const help = await run(join(prefix, 'bin/kvpn'), ['up', '--help'], { env }).catch((err) => err);
  t.match(help.stdout, /--context/, 'kvpn up --help');
  const plugin = await run(join(prefix, 'bin/kubectl-vpn'), ['version'], { env }).catch((err) => err);
  t.match(plugin.stdout, /^kvpn /, 'the kubectl-vpn plugin binary');
});

/** Installed packages whose engines.node (">=X.Y.Z") the running Node does not meet, as name@version (>=X.Y.Z). */
function enginesBeyond(nodeModules: string, nodeVersion: string): string[] {
  const have = nodeVersion.split('.').map(Number);
  const out: string[] = [];
  const dirs = readdirSync(nodeModules).flatMap((d) =>
    d.startsWith('@') ? readdirSync(join(nodeModules, d)).map((s) => `${d}/${s}`) : [d],
  );
  for (const dir of dirs) {
    const file = join(nodeModules, dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as {
      name: string;
      version: string;
      engines?: { node?: string };
    };
    const min = /^>=\s*v?(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines?.node?.trim() ?? '');
    if (!min) continue;
    const want = min.slice(1).map(Number);
    const i = want.findIndex((w, k) => w !== have[k]);
    const older = i >= 0 && (have[i] ?? 0) < (want[i] ?? 0);
    if (older) out.push(`${pkg.name}@${pkg.version} (node ${pkg.engines?.node})`);
  }
  return out;
}
