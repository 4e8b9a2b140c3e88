// Bundles the in-cluster relay (src/relay/server/main.ts) into one
// dependency-free file, dist/relay/relay.js, shipped to the cluster in a
// ConfigMap and run by a stock node image (docs/design.md §7).

import { existsSync } from 'node:fs';
import { build } from 'esbuild';

const entry = 'src/relay/server/main.ts';
if (!existsSync(entry)) {
  console.error(`bundle-relay: ${entry} is missing`);
  process.exit(1);
}
await build({
  entryPoints: [entry],
  outfile: 'dist/relay/relay.js',
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
