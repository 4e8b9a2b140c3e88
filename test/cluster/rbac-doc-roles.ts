// The Roles of docs/rbac.md, read back from the page's yaml blocks: the
// test world's users and `kvpn doctor`'s checks are compared with them.
import { readFileSync } from 'node:fs';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export const RBAC_DOC = new URL('../../docs/rbac.md', import.meta.url);
const RULE_KEYS = ['apiGroups', 'resources', 'verbs'] as const;

/**
 * The Roles in the page's yaml blocks, by name. The page writes every list
 * as a flow sequence of double-quoted strings (valid JSON); this reads that
 * subset and fails on anything else inside `rules`, so a rule the reader
 * does not understand cannot pass unnoticed.
 */
export function documentedRoles(markdown: string): Map<string, PolicyRule[]> {
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

/** The page's Roles, by name, in their order. */
export const rbacDocRoles = (): Map<string, PolicyRule[]> => documentedRoles(readFileSync(RBAC_DOC, 'utf8'));
