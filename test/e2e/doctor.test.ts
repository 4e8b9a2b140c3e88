// `kvpn doctor` as a user runs it in the laptop namespace: the staging
// context passes every check `up` needs, no-portforward names exactly the
// missing pods/portforward right, and an unreachable API server or an
// unknown context is one line. Nothing in the cluster changes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { CheckResult } from '../../src/doctor/index.js';
import { kvpnIn, snapshot } from './helpers/kvpn.js';
import { onEachWorld } from './helpers/worlds.js';

const REQUIRED = ['node', 'tun-addon', 'tun-device', 'dns', 'kubeconfig', 'api', 'rbac', 'routes'];

await onEachWorld(t, {}, async (t, cluster) => {
  const doctor = async (args: string[]) => {
    const kvpn = kvpnIn(t, cluster);
    const before = await snapshot(cluster, kvpn);
    const r = await kvpn.run(['doctor', '--json', ...args]);
    t.same(await snapshot(cluster, kvpn), before, 'nothing changed');
    const doc = JSON.parse(r.stdout) as { checks: CheckResult[]; ok: boolean };
    return { code: r.code, doc, check: (id: string) => doc.checks.find((c) => c.id === id) };
  };

  t.test('staging: every check up needs passes', async (t) => {
    const { code, doc, check } = await doctor(['--context', 'staging']);
    t.equal(code, EXIT.OK);
    t.equal(doc.ok, true);
    for (const id of REQUIRED) t.equal(check(id)?.status, 'ok', `${id}: ${check(id)?.detail}`);
    t.equal(check('rbac-reader')?.status, 'warn', 'staging holds the tunnel Role only');
    t.equal(check('relay')?.status, 'skip');
  });

  t.test('no-portforward: exactly the missing pods/portforward right', async (t) => {
    const { code, doc, check } = await doctor(['--context', 'no-portforward']);
    t.equal(code, EXIT.CONFIG);
    t.equal(doc.ok, false);
    t.match(check('rbac'), {
      status: 'fail',
      detail: 'missing "get", "create" on "pods/portforward" in namespace "default"',
    });
    t.same(
      doc.checks.filter((c) => c.status === 'fail').map((c) => c.id),
      ['rbac'],
    );
  });

  t.test('an unknown context and an unreachable API server: one line each', async (t) => {
    const unknown = await doctor(['--context', 'stagin']);
    t.equal(unknown.code, EXIT.CONFIG);
    t.match(unknown.check('kubeconfig'), { status: 'fail', code: 'KVPN_ERR_UNKNOWN_CONTEXT' });
    t.notMatch(unknown.check('kubeconfig')?.detail ?? '', /\n/);

    const kvpn = kvpnIn(t, cluster);
    const { readFileSync } = await import('node:fs');
    const kubeconfig = join(kvpn.dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      readFileSync(cluster.kubeconfigPath, 'utf8').replace(/server: \S+/g, 'server: https://127.0.0.1:1'),
    );
    const unreachable = await doctor(['--kubeconfig', kubeconfig, '--context', 'staging']);
    t.equal(unreachable.code, EXIT.CLUSTER);
    t.match(unreachable.check('api'), { status: 'fail', code: 'KVPN_ERR_API_UNREACHABLE', detail: /127\.0\.0\.1:1/ });
    t.equal(unreachable.check('rbac')?.status, 'skip');
  });
});
