// Which volume mounts `kvpn mount` shows and how: API-built or from the pod,
// read-only unless --rw and the pod may write, --only, what is skipped.
import t from 'tap';
import { containerUser, type PlanPodSpec, planMounts } from '../../src/volumes/mount-plan.js';

const spec: PlanPodSpec = {
  securityContext: { runAsUser: 1000, runAsGroup: 2000 },
  containers: [
    {
      name: 'app',
      volumeMounts: [
        { name: 'data', mountPath: '/var/lib/data/cache' },
        { name: 'config', mountPath: '/etc/config' },
        { name: 'data', mountPath: '/var/lib/data' },
        { name: 'logs', mountPath: '/var/log/app', readOnly: true },
        { name: 'config', mountPath: '/etc/app.yaml', subPath: 'app.yaml' },
        { name: 'tmp', mountPath: '/tmp/x', subPathExpr: '$(POD_NAME)' },
        { name: 'ghost', mountPath: '/ghost' },
      ],
    },
    { name: 'bare' },
  ],
  volumes: [
    { name: 'data', persistentVolumeClaim: { claimName: 'data' } },
    { name: 'config', configMap: { name: 'cfg' } },
    { name: 'logs', emptyDir: {} },
    { name: 'tmp', emptyDir: {} },
  ],
};
const app = spec.containers[0] as PlanPodSpec['containers'][number];

t.test('every mount: API volumes from the API, the rest from the pod; parents first', async (t) => {
  const plan = planMounts(spec, app, { rw: false });
  t.same(
    plan.mounts.map((m) => [m.mountPath, m.type, m.source, m.readOnly, m.subPath]),
    [
      ['/etc/config', 'configMap', 'api', true, undefined],
      ['/etc/app.yaml', 'configMap', 'api', true, 'app.yaml'],
      ['/var/lib/data', 'persistentVolumeClaim', 'pod', true, undefined],
      ['/var/log/app', 'emptyDir', 'pod', true, undefined],
      ['/var/lib/data/cache', 'persistentVolumeClaim', 'pod', true, undefined],
    ],
  );
  t.same(plan.skipped, [
    { mountPath: '/tmp/x', why: 'subPathExpr is not supported yet' },
    { mountPath: '/ghost', why: 'the pod has no volume "ghost"' },
  ]);
});

t.test('--rw: writable only where the pod may write', async (t) => {
  const plan = planMounts(spec, app, { rw: true });
  const ro = Object.fromEntries(plan.mounts.map((m) => [m.mountPath, m.readOnly]));
  t.same(ro, {
    '/etc/config': true,
    '/var/lib/data': false,
    '/var/log/app': true,
    '/etc/app.yaml': true,
    '/var/lib/data/cache': false,
  });
  t.throws(() => planMounts(spec, app, { rw: true, only: ['logs'] }), {
    code: 'KVPN_ERR_MOUNT_READ_ONLY',
    message: /\/var\/log\/app \(emptyDir volume "logs"\) is read-only in the pod/,
  });
  t.throws(() => planMounts(spec, app, { rw: true, only: ['/etc/config'] }), { code: 'KVPN_ERR_MOUNT_READ_ONLY' });
});

t.test('--only by volume name or mount path', async (t) => {
  t.same(
    planMounts(spec, app, { rw: false, only: ['data'] }).mounts.map((m) => m.mountPath),
    ['/var/lib/data', '/var/lib/data/cache'],
  );
  t.same(
    planMounts(spec, app, { rw: false, only: ['/etc/config'] }).mounts.map((m) => m.mountPath),
    ['/etc/config'],
  );
  t.throws(() => planMounts(spec, app, { rw: false, only: ['nope'] }), {
    code: 'KVPN_ERR_MOUNT_NO_VOLUMES',
    message: /has no volume mount "nope"/,
  });
});

t.test('a container without volume mounts', async (t) => {
  t.throws(() => planMounts(spec, { name: 'bare' }, { rw: false }), {
    code: 'KVPN_ERR_MOUNT_NO_VOLUMES',
    message: /container "bare" mounts no volumes/,
  });
});

t.test("the file server runs as the container's user", async (t) => {
  t.same(containerUser(spec, app), { uid: 1000, gid: 2000, nonRoot: false });
  t.same(containerUser(spec, { name: 'x', securityContext: { runAsUser: 7, runAsNonRoot: true } }), {
    uid: 7,
    gid: 2000,
    nonRoot: true,
  });
  t.same(containerUser({ containers: [] }, { name: 'x' }), { nonRoot: false });
});
