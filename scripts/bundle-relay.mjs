// Bundles the in-cluster programs into dependency-free single files run by a
// stock node image: the relay (src/relay/server/main.ts → dist/relay/relay.js,
// shipped in a ConfigMap, docs/design.md §7) and the file server of
// `kvpn mount` (src/volumes/server/main.ts → dist/relay/files.js, passed as
// `node -e` to an ephemeral container).

import { existsSync } from 'node:fs';
import { build } from 'esbuild';

const bundles = [
  { entry: 'src/relay/server/main.ts', outfile: 'dist/relay/relay.js' },
  { entry: 'src/volumes/server/main.ts', outfile: 'dist/relay/files.js' },
];
for (const { entry } of bundles) {
  if (!existsSync(entry)) {
    console.error(`bundle-relay: ${entry} is missing`);
    process.exit(1);
  }
}
for (const { entry, outfile } of bundles) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
}
