// What `npm run bench -- compare` runs is built first, so it measures what
// users run rather than the TypeScript loader (which adds ~60 MB of RSS and
// start-up time to every process it runs):
//   dist/                 `npm run build`'s steps: tsc -p tsconfig.build.json,
//                         the relay bundle and the inspection page's assets;
//                         kvpn runs as `node dist/src/cli/main.js`
//   forward.mjs, client.mjs  bench/compare/forward.ts and client.ts
//                         bundled by esbuild (packages left external), under
//                         node_modules/.cache so that `ws` and the Kubernetes
//                         client resolve from the project's node_modules.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface BenchBuild {
  /** node + these args = the kvpn CLI from dist/. */
  kvpnCli: string;
  forward: string;
  client: string;
}

export function buildForBench(): BenchBuild {
  const started = Date.now();
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    // Type errors elsewhere still emit JavaScript; what matters is that the CLI was written now.
    const text = String((err as { stdout?: Buffer }).stdout ?? '');
    process.stderr.write(`[compare] tsc reported errors (JavaScript is emitted anyway):\n${text.slice(0, 2000)}\n`);
  }
  const kvpnCli = join(ROOT, 'dist/src/cli/main.js');
  if (!existsSync(kvpnCli) || statSync(kvpnCli).mtimeMs < started - 1000) {
    throw new Error(`tsc did not (re)write ${kvpnCli}`);
  }
  execFileSync(process.execPath, ['scripts/bundle-relay.mjs'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/copy-ui-assets.mjs'], { cwd: ROOT, stdio: 'inherit' });
  const out = join(ROOT, 'node_modules/.cache/kvpn-bench-compare');
  mkdirSync(out, { recursive: true });
  execFileSync(
    join(ROOT, 'node_modules/.bin/esbuild'),
    [
      'bench/compare/forward.ts',
      'bench/compare/client.ts',
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      '--packages=external',
      `--outdir=${out}`,
      '--out-extension:.js=.mjs',
      '--log-level=warning',
    ],
    { cwd: ROOT, stdio: 'inherit' },
  );
  return { kvpnCli, forward: join(out, 'forward.mjs'), client: join(out, 'client.mjs') };
}
