// The test world (test/cluster) set up for tunnel and relay tests: the
// cluster, its API reachable from this (root-namespace) process through the
// laptop forwarder, and clients for the namespace-scoped `staging` user and
// for `admin`. The relay bundle is rebuilt first so pods run current code.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { KubeClient } from '../../../src/kube/client.js';
import { type Cluster, startCluster } from '../../cluster/index.js';
import { type LaptopApi, laptopApi } from '../../session/helpers/laptop-api.js';

export interface World {
  cluster: Cluster;
  api: LaptopApi;
  staging: KubeClient;
  admin: KubeClient;
}

let bundled = false;

export function buildRelayBundle(): void {
  if (bundled) return;
  execFileSync('node', ['scripts/bundle-relay.mjs'], { cwd: join(import.meta.dirname, '../../..'), stdio: 'inherit' });
  bundled = true;
}

export async function startWorld(t: Test): Promise<World> {
  buildRelayBundle();
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-tunnel-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const api = await laptopApi(t, cluster, dir);
  const staging = KubeClient.load({ kubeconfig: api.kubeconfig, context: 'staging' });
  const admin = KubeClient.load({ kubeconfig: api.kubeconfig, context: 'admin', namespace: 'default' });
  t.teardown(() => {
    staging.close();
    admin.close();
  });
  return { cluster, api, staging, admin };
}
