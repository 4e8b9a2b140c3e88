// RBAC as doctor asks it: one SelfSubjectAccessReview per distinct right,
// answered here by a fake API server that holds a list of rules, as RBAC
// would. The tunnel Role missing a right fails; any other Role missing one
// is a warning naming the feature.
import t from 'tap';
import { checkRbac, SSAR_PATH } from '../../src/doctor/rbac.js';
import { KVPN_ROLES, type PolicyRule, rightsOf } from '../../src/doctor/rights.js';
import { KubeApiError } from '../../src/kube/errors.js';

interface Review {
  spec: {
    resourceAttributes: { namespace: string; verb: string; group: string; resource: string; subresource?: string };
  };
}

/** A KubeClient `request` that answers access reviews from `rules`, and records each question. */
function rbacApi(rules: readonly PolicyRule[]) {
  const asked: string[] = [];
  return {
    asked,
    async request<T>(method: string, path: string, options: { body?: unknown } = {}): Promise<T> {
      if (method !== 'POST' || path !== SSAR_PATH) throw new KubeApiError(method, path, 404, { message: 'not found' });
      const a = (options.body as Review).spec.resourceAttributes;
      const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
      asked.push(`${a.verb} ${resource}${a.group ? `.${a.group}` : ''} in ${a.namespace}`);
      const allowed = rules.some(
        (r) => r.verbs.includes(a.verb) && r.apiGroups.includes(a.group) && r.resources.includes(resource),
      );
      return { status: { allowed } } as T;
    },
  };
}

const role = (name: string): PolicyRule[] => [...(KVPN_ROLES.find((r) => r.name === name)?.rules ?? [])];
const MINIMAL = role('kvpn');
const EVERY_ROLE = KVPN_ROLES.flatMap((r) => r.rules);

t.test('every Role bound: every check ok, each distinct right asked once', async (t) => {
  const api = rbacApi(EVERY_ROLE);
  const results = await checkRbac(api, 'shop');
  t.same(
    results.map((r) => [r.id, r.status]),
    [
      ['rbac', 'ok'],
      ['rbac-reader', 'ok'],
      ['rbac-env', 'ok'],
      ['rbac-expose', 'ok'],
      ['rbac-intercept', 'ok'],
      ['rbac-mount', 'ok'],
    ],
  );
  t.equal(results[0]?.detail, 'all 11 rights in namespace "shop"');
  t.equal(api.asked.length, rightsOf(EVERY_ROLE).length, 'no right asked twice');
  t.equal(new Set(api.asked).size, api.asked.length);
  t.ok(api.asked.includes('create pods/portforward in shop'));
  t.ok(api.asked.includes('list endpointslices.discovery.k8s.io in shop'));
});

t.test('the tunnel Role alone (the staging contexts): up ok, each feature a warning', async (t) => {
  const results = await checkRbac(rbacApi(MINIMAL), 'default');
  t.match(results[0], { id: 'rbac', status: 'ok' });
  t.match(results[1], {
    id: 'rbac-reader',
    status: 'warn',
    detail:
      'local DNS answers and the exact Service range: missing "list", "watch", "create" on "services"; "list", "watch" on "endpointslices.discovery.k8s.io" in namespace "default"',
    fix: 'Bind the kvpn-reader Role from docs/rbac.md in "default" (local DNS answers and the exact Service range); kvpn up works without it.',
  });
  t.match(results[3], {
    id: 'rbac-expose',
    status: 'warn',
    detail:
      'kvpn expose: missing "create", "get", "delete" on "services"; "list" on "endpointslices.discovery.k8s.io" in namespace "default"',
  });
  t.notOk(
    results.some((r) => r.status === 'fail'),
    'no failure',
  );
});

t.test('no pods/portforward (the no-portforward context): exactly that right, and a failure', async (t) => {
  const rules = [...MINIMAL.filter((r) => !r.resources.includes('pods/portforward')), ...role('kvpn-reader')];
  const results = await checkRbac(rbacApi(rules), 'default');
  t.match(results[0], {
    id: 'rbac',
    status: 'fail',
    category: 'user',
    detail: 'missing "get", "create" on "pods/portforward" in namespace "default"',
    fix: 'Ask a cluster admin to bind the kvpn Role from docs/rbac.md in "default", or pick a namespace where you have it with --namespace.',
  });
  t.match(results[1], { id: 'rbac-reader', status: 'ok' });
});

t.test('mount without ephemeral containers: one warning naming the feature and the right', async (t) => {
  const rules = [...MINIMAL, ...role('kvpn-mount').filter((r) => !r.resources.includes('pods/ephemeralcontainers'))];
  const mount = (await checkRbac(rbacApi(rules), 'default')).find((r) => r.id === 'rbac-mount');
  t.equal(mount?.status, 'warn');
  t.equal(mount?.detail, 'kvpn mount: missing "patch" on "pods/ephemeralcontainers" in namespace "default"');
});

t.test('reviews that cannot be made (expired credentials): the tunnel Role fails, the rest are skipped', async (t) => {
  const api = {
    async request<T>(method: string, path: string): Promise<T> {
      throw new KubeApiError(method, path, 401, { message: 'Unauthorized', reason: 'Unauthorized' });
    },
  };
  const results = await checkRbac(api, 'default');
  t.match(results[0], {
    id: 'rbac',
    status: 'fail',
    code: 'KVPN_ERR_API_UNAUTHORIZED',
    category: 'user',
    detail: `cannot ask the API server what you may do: POST ${SSAR_PATH}: Unauthorized`,
    fix: /log in again/,
  });
  t.same(
    results.slice(1).map((r) => r.status),
    ['skip', 'skip', 'skip', 'skip', 'skip'],
  );
});
