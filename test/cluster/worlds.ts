// Which test worlds a suite runs against. The stand-in always; the real
// Kubernetes world when its components are built (test/cluster/real/
// build-components.sh, which .ci/run runs), and always when
// KVPN_REAL_WORLD=required (CI): then a missing build fails instead of
// skipping.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { REAL_CACHE_ROOT } from './world-config.js';

export type WorldKind = 'stand-in' | 'real';

const BUILD = fileURLToPath(new URL('./real/build-components.sh', import.meta.url));

let built: Promise<boolean> | undefined;

/** True when the real world's components are built (never builds them). */
export function realWorldBuilt(): Promise<boolean> {
  built ??= new Promise((resolve) => {
    const env = {
      ...process.env,
      KVPN_REAL_CACHE: process.env.KVPN_REAL_CACHE ?? REAL_CACHE_ROOT,
      KVPN_REAL_NO_BUILD: '1',
    };
    execFile('bash', [BUILD], { env }, (err) => resolve(!err));
  });
  return built;
}

/** The real world's kind if it should run, else why not (for t.skip). */
export async function realWorld(): Promise<{ run: true } | { run: false; why: string }> {
  if (await realWorldBuilt()) return { run: true };
  if (process.env.KVPN_REAL_WORLD === 'required')
    throw new Error(`KVPN_REAL_WORLD=required but the real world is not built: run ${BUILD}`);
  return { run: false, why: `the real Kubernetes world is not built (run ${BUILD})` };
}

/** Every world kind a suite should run against here. */
export async function worldKinds(): Promise<WorldKind[]> {
  const kinds: WorldKind[] = (await realWorld()).run ? ['stand-in', 'real'] : ['stand-in'];
  // KVPN_WORLDS=real (or stand-in) narrows a local run to one world.
  const only = process.env.KVPN_WORLDS?.split(',').filter(Boolean);
  return only?.length ? kinds.filter((k) => only.includes(k)) : kinds;
}
