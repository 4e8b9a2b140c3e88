// The Roles doctor checks (src/doctor/rights.ts) are the Roles of
// docs/rbac.md, read back from the page's yaml blocks with the same reader
// as test/cluster/rbac-doc.test.ts, so the page and the checks cannot drift.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { describeMissing, KVPN_ROLES, type PolicyRule, rightsOf } from '../../src/doctor/rights.js';

const RBAC_DOC = new URL('../../docs/rbac.md', import.meta.url);
const RULE_KEYS = ['apiGroups', 'resources', 'verbs'] as const;

/** The Roles in the page's yaml blocks, by name (lists are JSON flow sequences; anything else fails). */
function documentedRoles(markdown: string): Map<string, PolicyRule[]> {
  const roles = new Map<string, PolicyRule[]>();
  for (const block of markdown.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    for (const doc of (block[1] ?? '').split(/^---$/m)) {
      if (!/^kind: Role$/m.test(doc)) continue;
      const name = /^metadata:\n\s+name: (\S+)/m.exec(doc)?.[1];
      const rulesAt = doc.search(/^rules:$/m);
      if (!name || rulesAt < 0) throw new Error(`a Role without a name or rules:\n${doc}`);
      const rules: PolicyRule[] = [];
      for (const raw of doc.slice(rulesAt + 'rules:'.length).split('\n')) {
        const line = raw.replace(/(^|\s)#.*$/, '').trimEnd();
        if (!line.trim()) continue;
        const m = /^\s+(- )?(\w+): (\[.*\])$/.exec(line);
        const key = m?.[2] as (typeof RULE_KEYS)[number] | undefined;
        if (!m || !key || !RULE_KEYS.includes(key)) throw new Error(`Role ${name}: cannot read rule line "${raw}"`);
        if (m[1]) rules.push({ apiGroups: [], resources: [], verbs: [] });
        const rule = rules.at(-1);
        if (!rule) throw new Error(`Role ${name}: "${raw}" outside a rule`);
        rule[key] = JSON.parse(m[3] as string) as string[];
      }
      roles.set(name, rules);
    }
  }
  return roles;
}

const documented = documentedRoles(readFileSync(RBAC_DOC, 'utf8'));

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
