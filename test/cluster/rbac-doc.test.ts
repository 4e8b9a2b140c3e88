// docs/rbac.md and the test world hold the same Roles: the page's minimal
// Role (`kvpn`) is what the staging contexts get, its optional reads Role
// (`kvpn-reader`) is what staging-reader adds. A regression: staging once
// held everything in its namespace while the page promised the tunnel Role
// was enough, and `kvpn up` failed against a real cluster on a read the
// stand-in allowed.
import t from 'tap';
import { Authenticator, type Identity } from './apiserver/auth.js';
import {
  KVPN_MINIMAL_ROLE,
  KVPN_OPTIONAL_READ_ROLE,
  NO_PORTFORWARD_USER,
  newCredentials,
  ROLE_WITHOUT_PORTFORWARD,
} from './kubeconfig.js';
import { rbacDocRoles } from './rbac-doc-roles.js';

const roles = rbacDocRoles();

t.test('the minimal Role of docs/rbac.md is KVPN_MINIMAL_ROLE', async (t) => {
  t.same(roles.get('kvpn'), KVPN_MINIMAL_ROLE);
});

t.test('the optional reads Role of docs/rbac.md is KVPN_OPTIONAL_READ_ROLE', async (t) => {
  t.same(roles.get('kvpn-reader'), KVPN_OPTIONAL_READ_ROLE);
  // kvpn-env is what `kvpn env`/`kvpn run` read, kvpn-expose, kvpn-intercept and kvpn-mount what `kvpn expose`
  // `kvpn intercept` and `kvpn mount` add (no test world context holds them; the e2e tests bind them from the page).
  t.same(
    [...roles.keys()],
    ['kvpn', 'kvpn-reader', 'kvpn-env', 'kvpn-expose', 'kvpn-intercept', 'kvpn-mount'],
    'no other Role on the page',
  );
});

t.test("the world's users hold those Roles in namespace default, and only those", async (t) => {
  const users = new Map(newCredentials().users.map((u) => [u.name, u]));
  t.match(users.get('staging'), { namespaces: ['default'], rules: KVPN_MINIMAL_ROLE });
  t.match(users.get('staging-exec'), { namespaces: ['default'], rules: KVPN_MINIMAL_ROLE });
  t.match(users.get('staging-reader'), {
    namespaces: ['default'],
    rules: [...KVPN_MINIMAL_ROLE, ...KVPN_OPTIONAL_READ_ROLE],
  });
  t.same(users.get(NO_PORTFORWARD_USER)?.rules, ROLE_WITHOUT_PORTFORWARD);
  t.same(
    ROLE_WITHOUT_PORTFORWARD.flatMap((r) => r.resources),
    ['pods', 'configmaps', 'secrets', 'services', 'endpointslices'],
    'no-portforward: both Roles but pods/portforward',
  );
  for (const u of users.values()) t.ok(u.namespaces === undefined || u.rules, `${u.name}: no "everything in default"`);
});

t.test('the authorizer applies them as RBAC would', async (t) => {
  const auth = new Authenticator(newCredentials().users);
  const as = (user: string): Identity => ({ user, groups: ['system:authenticated'] });
  const may = (user: string, verb: string, resource: string, extra: { group?: string; subresource?: string } = {}) =>
    auth.authorize(as(user), { verb, group: extra.group ?? '', resource, namespace: 'default', ...extra });
  t.ok(may('staging', 'create', 'pods', { subresource: 'portforward' }), 'the tunnel');
  t.ok(may('staging', 'watch', 'pods'));
  t.notOk(may('staging', 'list', 'services'), 'no Service reads');
  t.notOk(may('staging', 'create', 'services'), 'no dry-run probe');
  t.notOk(may('staging', 'list', 'endpointslices', { group: 'discovery.k8s.io' }));
  t.notOk(may('staging', 'get', 'pods', { subresource: 'log' }), 'not even logs');
  t.ok(may('staging-reader', 'watch', 'services'));
  t.ok(may('staging-reader', 'list', 'endpointslices', { group: 'discovery.k8s.io' }));
  t.notOk(may('staging-reader', 'get', 'services'), 'list and watch, not get');
});
