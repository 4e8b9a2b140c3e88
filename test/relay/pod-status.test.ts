// Verdicts on relay pods from the states a real cluster reports (fixtures
// shaped like kubelet/scheduler output), including those the test world
// does not produce (Unschedulable, OOMKilled, quota).
import t from 'tap';
import { KubeApiError } from '../../src/kube/errors.js';
import { forbiddenError, judgeRelayPod } from '../../src/relay/pod-status.js';

const IMAGE = 'node:22-alpine';
const pod = (status: object, extra: object = {}) => ({
  metadata: { name: 'kvpn-relay-s1-abc123', namespace: 'dev', ...extra },
  status,
});

t.test('Ready when Running with the Ready condition', async (t) => {
  t.same(
    judgeRelayPod(
      pod({
        phase: 'Running',
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: 'True' },
        ],
      }),
      IMAGE,
    ),
    {
      kind: 'ready',
    },
  );
  t.same(judgeRelayPod(pod({ phase: 'Pending' }), IMAGE), { kind: 'waiting', detail: 'Pending, not scheduled yet' });
  t.same(
    judgeRelayPod(
      pod({
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'True' }],
        containerStatuses: [{ state: { waiting: { reason: 'ContainerCreating' } } }],
      }),
      IMAGE,
    ),
    { kind: 'waiting', detail: 'ContainerCreating' },
  );
});

t.test('Unschedulable names the scheduler message and the fix', async (t) => {
  const v = judgeRelayPod(
    pod({
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: '0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available.',
        },
      ],
    }),
    IMAGE,
  );
  t.equal(v.kind, 'failed');
  if (v.kind !== 'failed') return;
  t.equal(v.error.code, 'KVPN_ERR_RELAY_UNSCHEDULABLE');
  t.match(v.error.message, /cannot be scheduled: 0\/3 nodes are available: 3 Insufficient memory/);
  t.match(v.error.remedy, /free capacity/);
});

t.test('image pull: back-off fails at once, a transient pull error waits', async (t) => {
  const backoff = judgeRelayPod(
    pod({
      phase: 'Pending',
      containerStatuses: [
        { state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "node:22-alpine"' } } },
      ],
    }),
    IMAGE,
  );
  t.equal(backoff.kind === 'failed' && backoff.error.code, 'KVPN_ERR_RELAY_IMAGE');
  const transient = judgeRelayPod(
    pod({
      phase: 'Pending',
      containerStatuses: [{ state: { waiting: { reason: 'ErrImagePull', message: 'rpc error: i/o timeout' } } }],
    }),
    IMAGE,
  );
  t.equal(transient.kind, 'waiting');
});

t.test('an exit reports the code and the last log lines; OOM says so', async (t) => {
  const exited = judgeRelayPod(
    pod({
      phase: 'Failed',
      containerStatuses: [
        {
          state: {
            terminated: { exitCode: 2, reason: 'Error', message: '{"level":"error","msg":"bad configuration"}\n' },
          },
        },
      ],
    }),
    IMAGE,
  );
  t.equal(exited.kind, 'failed');
  if (exited.kind === 'failed')
    t.match(exited.error.message, /exited: exit code 2 \(Error\): \{"level":"error","msg":"bad configuration"\}$/);
  const oom = judgeRelayPod(
    pod({ phase: 'Failed', containerStatuses: [{ state: { terminated: { exitCode: 137, reason: 'OOMKilled' } } }] }),
    IMAGE,
  );
  if (oom.kind === 'failed') t.match(oom.error.remedy, /out of memory/);
  else t.fail('OOMKilled is a failure');
  const deleting = judgeRelayPod(pod({ phase: 'Running' }, { deletionTimestamp: '2026-01-01T00:00:00Z' }), IMAGE);
  t.equal(deleting.kind === 'failed' && deleting.error.code, 'KVPN_ERR_RELAY_DELETED');
  t.equal(judgeRelayPod(undefined, IMAGE).kind, 'failed', 'gone');
});

t.test('403s: RBAC names the verb; a full quota is not an RBAC problem', async (t) => {
  const rbac = forbiddenError(
    new KubeApiError('POST', '/api/v1/namespaces/dev/pods', 403, {
      message: 'pods is forbidden: User "jane" cannot create resource "pods" in API group "" in the namespace "dev"',
    }),
    'dev',
    'create the relay pod',
  );
  t.equal(rbac.code, 'KVPN_ERR_RELAY_FORBIDDEN');
  t.match(rbac.message, /missing RBAC verb "create" on "pods"/);
  const quota = forbiddenError(
    new KubeApiError('POST', '/api/v1/namespaces/dev/pods', 403, {
      message:
        'pods "kvpn-relay-s1-abc123" is forbidden: exceeded quota: compute, requested: limits.memory=512Mi, used: limits.memory=2Gi, limited: limits.memory=2Gi',
    }),
    'dev',
    'create the relay pod',
  );
  t.equal(quota.code, 'KVPN_ERR_RELAY_QUOTA');
  t.match(quota.remedy, /ResourceQuota/);
});
