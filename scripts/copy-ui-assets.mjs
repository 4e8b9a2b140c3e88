// The inspection page's static files (src/inspect/assets) next to the compiled
// server (dist/src/inspect/assets), which reads them relative to itself.
import { cpSync } from 'node:fs';

cpSync(new URL('../src/inspect/assets/', import.meta.url), new URL('../dist/src/inspect/assets/', import.meta.url), {
  recursive: true,
});
