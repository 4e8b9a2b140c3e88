// While up, the relay pod is deleted, or the API server restarts: kvpn
// recovers by itself (recreating the relay if needed) and new connections
// work again within 10 s.
import t, { type Test } from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { Cluster } from '../cluster/index.js';
import { daemonPid, type Kvpn, kvpnIn, laptop, snapshot } from './helpers/kvpn.js';
import { onEachWorld, standInOnly } from './helpers/worlds.js';

const RECOVERY_BUDGET_MS = 10_000;

await onEachWorld(t, {}, async (t, cluster) => {
  /** Milliseconds until a fresh curl to echo succeeds (each try bounded to 2 s). */
  async function timeToWorkingCurl(cluster: Cluster, since: number, budgetMs: number): Promise<number> {
    for (;;) {
      const r = await laptop(cluster, 'curl', ['-sS', '-m', '2', 'http://echo.default.svc.cluster.local/'], 5000);
      if (r.code === 0 && r.stdout.startsWith('echo-')) return Date.now() - since;
      if (Date.now() - since > budgetMs + 5000)
        throw new Error(`still failing after ${Date.now() - since} ms: ${r.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function upAndWorking(t: Test, kvpn: Kvpn): Promise<void> {
    const up = await kvpn.run(['up', '--context', 'staging']);
    t.equal(up.code, EXIT.OK, up.stderr);
    const first = await laptop(cluster, 'curl', ['-sS', '-m', '5', 'http://echo.default.svc.cluster.local/']);
    if (!t.match(first.stdout, /^echo-/, 'working before the fault', { curlExit: first.code, stderr: first.stderr }))
      t.comment(`kvpn status after the failed curl:\n${(await kvpn.run(['status', '--json'])).stdout}`);
  }

  t.test('relay pod deleted while up: recreated, new connections work within 10 s', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    const before = await snapshot(cluster, kvpn);
    await upAndWorking(t, kvpn);
    const pid = await daemonPid(kvpn);
    const status = JSON.parse((await kvpn.run(['status', '--json'])).stdout).sessions[0];
    const oldPod = status.relay.pod as string;
    const deletedAt = Date.now();
    await cluster.deletePod(oldPod, 'default', 0);
    const ms = await timeToWorkingCurl(cluster, deletedAt, RECOVERY_BUDGET_MS);
    t.ok(ms <= RECOVERY_BUDGET_MS, `new connections work again ${ms} ms after the relay pod was deleted`);
    const after = JSON.parse((await kvpn.run(['status', '--json'])).stdout).sessions[0];
    t.not(after.relay.pod, oldPod, 'a new relay pod');
    t.equal(after.relay.recreated, 1);
    t.match(after.warnings, [/relay pod was gone; recreated as kvpn-relay-/]);
    const dig = await laptop(cluster, 'dig', ['+short', 'echo.default.svc.cluster.local']);
    t.equal(dig.stdout.trim(), await cluster.serviceIp('echo'), 'names still resolve');
    const down = await kvpn.run(['down']);
    t.equal(down.code, EXIT.OK, down.stderr);
    t.same(await snapshot(cluster, kvpn, [pid]), before, 'the recreated relay is removed too');
  });

  t.test(
    'API server restarted while up: new connections work within 10 s',
    { skip: standInOnly(cluster, 'restarts its API server') },
    async (t) => {
      const kvpn = kvpnIn(t, cluster);
      const before = await snapshot(cluster, kvpn);
      await upAndWorking(t, kvpn);
      const pid = await daemonPid(kvpn);
      const restartedAt = Date.now();
      await cluster.restartApiServer({ downMs: 1000 });
      const ms = await timeToWorkingCurl(cluster, restartedAt, RECOVERY_BUDGET_MS);
      t.ok(ms <= RECOVERY_BUDGET_MS, `new connections work again ${ms} ms after the restart began (1 s down)`);
      // All tunnel carriers come back too (new connections did not wait for that).
      let state = '';
      for (let i = 0; i < 20 && state !== 'running'; i++) {
        state = JSON.parse((await kvpn.run(['status', '--json'])).stdout).sessions[0]?.state;
        if (state !== 'running') await new Promise((resolve) => setTimeout(resolve, 500));
      }
      t.equal(state, 'running', 'the tunnel is fully up again');
      const down = await kvpn.run(['down']);
      t.equal(down.code, EXIT.OK, down.stderr);
      t.same(await snapshot(cluster, kvpn, [pid]), before);
    },
  );
});
