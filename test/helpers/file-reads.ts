// Counts reads of one file through fs.readFileSync — how the Kubernetes
// client loads kubeconfig files — so a test can hold code to "read once".
// The count starts when this is called; the teardown puts fs back.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import type { Test } from 'tap';

export function countReads(t: Test, path: string): () => number {
  let count = 0;
  const original = fs.readFileSync;
  fs.readFileSync = function (this: unknown, ...args: Parameters<typeof original>) {
    if (args[0] === path) count++;
    return Reflect.apply(original, this, args);
  } as typeof original;
  // Named imports of node:fs (`import { readFileSync }`) see the wrapper too.
  syncBuiltinESMExports();
  t.teardown(() => {
    fs.readFileSync = original;
    syncBuiltinESMExports();
  });
  return () => count;
}
