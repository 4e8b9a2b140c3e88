// plugins/vpn.yaml by krew's rules, as far as they can be checked offline:
// the structural validation krew runs on every manifest (apiVersion, kind, a
// safe name matching the file, version semver with a leading v, short
// description, platforms each with an os/arch selector, uri, sha256, bin,
// file operations that stay inside the plugin directory), the index's checks
// (every platform selects a real os/arch, no two overlap), and ours: the
// version is package.json's and every uri is https.
import { readFileSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const FILE = join(ROOT, 'plugins/vpn.yaml');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

/** The <os, arch> pairs krew itself ships for: a platform must select one of them. */
const KREW_PLATFORMS = [
  ['windows', '386'],
  ['windows', 'amd64'],
  ['windows', 'arm64'],
  ['linux', '386'],
  ['linux', 'amd64'],
  ['linux', 'arm'],
  ['linux', 'arm64'],
  ['linux', 'ppc64le'],
  ['darwin', '386'],
  ['darwin', 'amd64'],
  ['darwin', 'arm64'],
] as const;
/** Names Windows reserves: krew refuses them as plugin names. */
const WINDOWS_RESERVED = [
  'CON',
  'PRN',
  'AUX',
  'NUL',
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((n) => [`COM${n}`, `LPT${n}`]),
];
/** krew-index shows shortDescription in `kubectl krew search`: its reviewers ask for a few words. */
const SHORT_DESCRIPTION_MAX_CHARS = 50;
const SEMVER_V = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface Platform {
  selector?: Selector;
  uri?: string;
  sha256?: string;
  bin?: string;
  files?: { from?: string; to?: string }[];
}
interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string };
  spec?: {
    version?: string;
    homepage?: string;
    shortDescription?: string;
    description?: string;
    platforms?: Platform[];
  };
}

const manifest = parse(readFileSync(FILE, 'utf8')) as Manifest;
const spec = manifest.spec ?? {};
const platforms = spec.platforms ?? [];

/** Whether a label selector (matchLabels and In/NotIn/Exists/DoesNotExist expressions) selects os/arch. */
function selects(sel: Selector, os: string, arch: string): boolean {
  const labels: Record<string, string> = { os, arch };
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const v = labels[e.key];
    const ok =
      e.operator === 'In'
        ? v !== undefined && (e.values ?? []).includes(v)
        : e.operator === 'NotIn'
          ? v === undefined || !(e.values ?? []).includes(v)
          : e.operator === 'Exists'
            ? v !== undefined
            : e.operator === 'DoesNotExist'
              ? v === undefined
              : false;
    if (!ok) return false;
  }
  return true;
}

/** A path krew resolves inside the plugin's directory: relative, clean, no `..` out of it. */
function staysInside(p: string): boolean {
  return p !== '' && !posix.isAbsolute(p) && !p.includes('\\') && !posix.normalize(p).startsWith('..');
}

t.test('the plugin object', async (t) => {
  t.equal(manifest.apiVersion, 'krew.googlecontainertools.github.com/v1alpha2', 'apiVersion');
  t.equal(manifest.kind, 'Plugin', 'kind');
  const name = manifest.metadata?.name ?? '';
  t.match(name, /^[\w-]+$/, 'a safe plugin name');
  t.notOk(WINDOWS_RESERVED.includes(name.toUpperCase()), 'not a name Windows reserves');
  t.equal(name, basename(FILE, '.yaml'), 'named as its file');
  t.equal(spec.version, `v${PKG.version}`, "version is package.json's, with a leading v");
  t.match(spec.version ?? '', SEMVER_V, 'version is semver');
  t.match(spec.homepage ?? '', /^https:\/\//, 'homepage is https');
  const short = spec.shortDescription ?? '';
  t.ok(short.length > 0, 'a short description');
  t.notMatch(short, /[\r\n]/, 'on one line');
  t.ok(
    short.length <= SHORT_DESCRIPTION_MAX_CHARS,
    `of at most ${SHORT_DESCRIPTION_MAX_CHARS} chars (${short.length})`,
  );
  t.ok((spec.description ?? '').trim().length > 0, 'a description');
  t.ok(platforms.length > 0, 'at least one platform');
});

t.test('each platform', async (t) => {
  for (const [i, p] of platforms.entries()) {
    t.test(`platforms[${i}]`, async (t) => {
      const sel = p.selector;
      t.ok(sel, 'has a selector');
      if (!sel) return;
      t.ok(
        Object.keys(sel.matchLabels ?? {}).length > 0 || (sel.matchExpressions ?? []).length > 0,
        'the selector is not empty',
      );
      if (sel.matchLabels) t.ok(Object.keys(sel.matchLabels).length > 0, 'matchLabels, if given, is not empty');
      if (sel.matchExpressions) t.ok(sel.matchExpressions.length > 0, 'matchExpressions, if given, is not empty');
      const keys = [...Object.keys(sel.matchLabels ?? {}), ...(sel.matchExpressions ?? []).map((e) => e.key)];
      t.same(
        keys.filter((k) => k !== 'os' && k !== 'arch'),
        [],
        'selects on os and arch only',
      );
      t.ok(
        KREW_PLATFORMS.some(([os, arch]) => selects(sel, os, arch)),
        'selects a platform krew runs on',
      );
      t.match(p.uri ?? '', /^https:\/\/\S+\.(tar\.gz|zip)$/, 'uri: an https .tar.gz or .zip');
      t.match(p.sha256 ?? '', /^[a-f0-9]{64}$/, 'sha256: 64 lowercase hex digits');
      t.notMatch(p.sha256 ?? '', /^(.)\1{63}$/, 'sha256 is not a placeholder');
      t.ok(p.bin && staysInside(p.bin), 'bin: a path inside the plugin directory');
      if (p.files !== undefined) {
        t.ok(p.files.length > 0, 'files: absent or not empty');
        for (const op of p.files) {
          t.ok(op.from && staysInside(op.from), `files from ${op.from} stays inside the archive`);
          t.ok(op.to && staysInside(op.to), `files to ${op.to} stays inside the plugin directory`);
          t.equal(posix.normalize(op.to ?? ''), op.to, `files to ${op.to} is a clean path`);
        }
      }
    });
  }
});

t.test('no os/arch is selected by two platforms', async (t) => {
  for (const [os, arch] of KREW_PLATFORMS) {
    const matching = platforms.flatMap((p, i) => (p.selector && selects(p.selector, os, arch) ? [i] : []));
    t.ok(matching.length <= 1, `${os}/${arch}: ${matching.length} platform(s)`);
  }
});

t.test('the selector matcher', async (t) => {
  t.ok(selects({ matchLabels: { os: 'linux' } }, 'linux', 'arm64'));
  t.notOk(selects({ matchLabels: { os: 'linux', arch: 'amd64' } }, 'linux', 'arm64'));
  t.ok(selects({ matchExpressions: [{ key: 'os', operator: 'In', values: ['darwin', 'linux'] }] }, 'darwin', 'amd64'));
  t.notOk(selects({ matchExpressions: [{ key: 'arch', operator: 'NotIn', values: ['386'] }] }, 'linux', '386'));
  t.notOk(staysInside('../x'));
  t.notOk(staysInside('/etc/passwd'));
  t.ok(staysInside('kvpn/dist'));
});
