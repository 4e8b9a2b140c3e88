// Builds the prebuilt TUN addon that ships in the npm package
// (prebuilds/<platform>-<arch>/kvpn.glibc.node), so `npm install -g kvpn` needs
// no C compiler: node-gyp-build (the package's install script and runtime
// loader) uses a prebuilt that matches and compiles from source otherwise.
//
// Node-API: one binary per platform serves every Node version we support.
// Each architecture is built with prebuildify in a scratch copy of the addon
// sources, so the checkout's own build/ (the source build the tests load) is
// left alone. arm64 is cross-compiled with Debian's gcc-aarch64-linux-gnu.
//
//   node scripts/prebuild.mjs                 x64, plus arm64 when the cross compiler is installed
//   node scripts/prebuild.mjs --arch x64      only the listed architectures (an error if one can't be built)
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const prebuildify = require('prebuildify');

/** node-gyp: the checkout's, else npm's own (npm sets npm_config_node_gyp in scripts), else PATH's. */
function nodeGypBin() {
  try {
    const pkg = require.resolve('node-gyp/package.json');
    const { bin } = require(pkg);
    return join(dirname(pkg), typeof bin === 'string' ? bin : bin['node-gyp']);
  } catch {
    return process.env.npm_config_node_gyp ?? 'node-gyp';
  }
}

/** How to build each architecture on an x64 or arm64 Linux host. */
const TOOLCHAINS = {
  x64: { gnu: 'x86_64-linux-gnu' },
  arm64: { gnu: 'aarch64-linux-gnu' },
};

function onPath(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The running Node's own headers, when it has them: node-gyp then downloads nothing. */
function nodedirEnv() {
  if (process.env.npm_config_nodedir) return {};
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include/node/node_api.h')) ? { npm_config_nodedir: prefix } : {};
}

/** CC/CXX/strip for `arch`: the host's own when it is the host arch, the cross toolchain otherwise. */
function toolchain(arch) {
  if (arch === process.arch) return { env: {}, stripBin: 'strip', missing: [] };
  const { gnu } = TOOLCHAINS[arch];
  const tools = { CC: `${gnu}-gcc`, CXX: `${gnu}-g++`, strip: `${gnu}-strip` };
  const missing = Object.values(tools).filter((t) => !onPath(t));
  return { env: { CC: tools.CC, CXX: tools.CXX }, stripBin: tools.strip, missing };
}

async function build(arch, { env, stripBin }) {
  const scratch = mkdtempSync(join(tmpdir(), `kvpn-prebuild-${arch}-`));
  const saved = { ...process.env };
  try {
    for (const p of ['package.json', 'binding.gyp', 'src/tun/native']) {
      cpSync(join(ROOT, p), join(scratch, p), { recursive: true });
    }
    Object.assign(process.env, nodedirEnv(), env); // prebuildify hands process.env (CC, CXX) to node-gyp
    await new Promise((resolve, reject) => {
      prebuildify(
        {
          cwd: scratch,
          out: ROOT,
          napi: true,
          // Node-API builds are tagged napi and load on every later Node; the
          // running Node's own headers need no download.
          targets: [process.versions.node],
          arch,
          platform: 'linux',
          strip: true,
          stripBin,
          tagLibc: true, // glibc only: musl (Alpine) falls back to the source build
          quiet: true,
          nodeGyp: nodeGypBin(),
        },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  } finally {
    process.env = saved;
    rmSync(scratch, { recursive: true, force: true });
  }
}

const { values } = parseArgs({ options: { arch: { type: 'string', multiple: true } } });
const requested = values.arch?.flatMap((a) => a.split(','));
const arches = requested ?? ['x64', 'arm64'];
if (process.platform !== 'linux') {
  console.error('prebuild: the TUN addon is Linux-only; run this on Linux');
  process.exit(1);
}

let failed = false;
for (const arch of arches) {
  if (!(arch in TOOLCHAINS)) {
    console.error(`prebuild: unknown architecture ${arch} (known: ${Object.keys(TOOLCHAINS).join(', ')})`);
    failed = true;
    continue;
  }
  const tc = toolchain(arch);
  if (tc.missing.length > 0) {
    const msg = `prebuild: skipping linux-${arch}: ${tc.missing.join(', ')} not found (apt-get install gcc-${TOOLCHAINS[arch].gnu} g++-${TOOLCHAINS[arch].gnu}); users on it build from source`;
    console.error(msg);
    if (requested) failed = true;
    continue;
  }
  const t0 = Date.now();
  try {
    rmSync(join(ROOT, 'prebuilds', `linux-${arch}`), { recursive: true, force: true });
    mkdirSync(join(ROOT, 'prebuilds'), { recursive: true });
    await build(arch, tc);
    const files = readdirSync(join(ROOT, 'prebuilds', `linux-${arch}`));
    console.log(`prebuild: linux-${arch}: ${files.join(', ')} in ${Date.now() - t0} ms`);
  } catch (err) {
    console.error(`prebuild: linux-${arch} failed: ${err.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
