// Every end-to-end suite runs on each test world (test/cluster/worlds.ts):
// the stand-in, and the real Kubernetes when it is built. One subtest per
// world, each with a world of its own, removed when the subtest ends.
import type { Test } from 'tap';
import { type Cluster, type ClusterOptions, startCluster } from '../../cluster/index.js';
import { worldKinds } from '../../cluster/worlds.js';

export async function onEachWorld(
  t: Test,
  opts: ClusterOptions,
  suite: (t: Test, cluster: Cluster) => Promise<void> | void,
): Promise<void> {
  for (const kind of await worldKinds()) {
    await t.test(`${kind} world`, async (t) => {
      const cluster = await startCluster({ ...opts, kind });
      t.teardown(() => cluster.stop());
      await suite(t, cluster);
    });
  }
}

/** For t.test's `skip`: the reason a test needs the stand-in (its faults), or false. */
export function standInOnly(cluster: Cluster, what: string): string | false {
  return cluster.kind === 'real' && `needs the stand-in: ${what}`;
}
