// Builds the prebuilt archive that krew installs (`kubectl krew install vpn`)
// from the npm tarball, and prints the sha256 that plugins/vpn.yaml records.
//
// krew only unpacks an archive and links kubectl-vpn to its `bin`: it runs no
// npm. So the archive holds the installed package with its production
// dependencies and the prebuilt TUN addons (what `npm install -g` would lay
// down), plus a `kubectl-vpn` launcher and the LICENSE when there is one. One
// archive serves linux/amd64 and linux/arm64: the JavaScript is the same and
// node-gyp-build picks the addon for the machine. Node.js must be on PATH.
//
//   npm pack                                       # runs prepack: the prebuilts for x64 and arm64
//   node scripts/prebuild-krew.mjs kvpn-X.Y.Z.tgz  # -> kubectl-vpn-vX.Y.Z-linux.tar.gz + its sha256
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';

const tarball = process.argv[2];
if (!tarball || !existsSync(tarball)) {
  console.error('usage: node scripts/prebuild-krew.mjs kvpn-X.Y.Z.tgz (made by npm pack)');
  process.exit(2);
}
const ROOT = resolve(import.meta.dirname, '..');

const LAUNCHER = `#!/bin/sh
# kubectl-vpn: krew links this file into its bin directory.
self=$(readlink -f "$0")
command -v node >/dev/null 2>&1 || { echo "kubectl-vpn needs Node.js >= 20.19 on PATH" >&2; exit 1; }
exec node "$(dirname "$self")/kvpn/dist/src/cli/main.js" "$@"
`;

const stage = mkdtempSync(join(tmpdir(), 'kvpn-krew-'));
try {
  const prefix = join(stage, 'prefix');
  execFileSync(
    'npm',
    ['install', '--global', '--prefix', prefix, '--omit=dev', '--no-audit', '--no-fund', resolve(tarball)],
    { stdio: 'inherit' },
  );
  const out = join(stage, 'archive');
  cpSync(join(prefix, 'lib/node_modules/kvpn'), join(out, 'kvpn'), { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(out, 'kubectl-vpn'), LAUNCHER);
  chmodSync(join(out, 'kubectl-vpn'), 0o755);
  for (const license of ['LICENSE', 'LICENSE.md', 'LICENSE.txt']) {
    if (existsSync(join(ROOT, license))) cpSync(join(ROOT, license), join(out, 'LICENSE'));
  }
  const { version } = JSON.parse(readFileSync(join(out, 'kvpn/package.json'), 'utf8'));
  const name = `kubectl-vpn-v${version}-linux.tar.gz`;
  // Reproducible: sorted entries, one mtime, no owners, gzip without a timestamp.
  execFileSync(
    'sh',
    [
      '-c',
      'tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf - . | gzip -9n > "$2"',
      'sh',
      out,
      join(stage, name),
    ],
    { stdio: 'inherit' },
  );
  cpSync(join(stage, name), resolve(name));
  const sha256 = createHash('sha256')
    .update(readFileSync(resolve(name)))
    .digest('hex');
  console.log(`${basename(name)} sha256 ${sha256}`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
