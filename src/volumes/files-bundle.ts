// The file server bundle (src/volumes/server, built by scripts/bundle-relay.mjs
// into dist/relay/files.js), read to be passed as `node -e` to the ephemeral container.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KvpnError } from '../errors.js';

/** The file server bundle built by `npm run build` (dist/relay/files.js), from source or from dist. */
export function loadFilesBundle(): string {
  const candidates = ['../../dist/relay/files.js', '../../relay/files.js'].map((p) =>
    fileURLToPath(new URL(p, import.meta.url)),
  );
  for (const path of candidates) if (existsSync(path)) return readFileSync(path, 'utf8');
  throw new KvpnError(
    'KVPN_ERR_FILES_BUNDLE',
    'internal',
    `the file server bundle is missing (looked at ${candidates.join(', ')})`,
    { remedy: 'Run `npm run build`.' },
  );
}
