// The Roles doctor checks (src/doctor/rights.ts) are the Roles of
// docs/rbac.md, read back from the page's yaml blocks with the same reader
// as test/cluster/rbac-doc.test.ts, so the page and the checks cannot drift.
import t from 'tap';
import { describeMissing, KVPN_ROLES, rightsOf } from '../../src/doctor/rights.js';
import { rbacDocRoles } from '../cluster/rbac-doc-roles.js';

const documented = rbacDocRoles();

t.test('every Role of docs/rbac.md, in its order, and no other', async (t) => {
  t.same(
    KVPN_ROLES.map((r) => r.name),
    [...documented.keys()],
  );
});

for (const role of KVPN_ROLES) {
  t.test(`Role ${role.name} has the rules of docs/rbac.md`, async (t) => {
    t.same(role.rules, documented.get(role.name));
  });
}

t.test('only the tunnel Role is required', async (t) => {
  t.same(
    KVPN_ROLES.filter((r) => r.required).map((r) => r.name),
    ['kvpn'],
  );
});

t.test('rules become single rights: subresources split, groups kept, duplicates once', async (t) => {
  const rights = rightsOf([
    { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
    { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] },
    { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get'] },
  ]);
  t.same(rights, [
    { verb: 'get', group: '', resource: 'pods', subresource: 'portforward' },
    { verb: 'create', group: '', resource: 'pods', subresource: 'portforward' },
    { verb: 'get', group: 'apps', resource: 'deployments', subresource: '' },
  ]);
  t.equal(
    rightsOf(KVPN_ROLES[0]?.rules ?? []).length,
    11,
    'the tunnel Role: 5 on pods, 2 on port-forward, 4 on objects',
  );
});

t.test('missing rights read as RBAC errors name them, verbs grouped per resource', async (t) => {
  t.equal(
    describeMissing(
      rightsOf([
        { apiGroups: [''], resources: ['pods/portforward'], verbs: ['get', 'create'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list'] },
      ]),
    ),
    '"get", "create" on "pods/portforward"; "list" on "endpointslices.discovery.k8s.io"',
  );
});
