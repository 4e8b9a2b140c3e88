// Label and field selectors, as in ?labelSelector=app=echo,tier!=db and
// ?fieldSelector=metadata.name=x.
import type { KObject } from './objects.js';
import { badRequest } from './status.js';

type Requirement =
  | { op: 'eq' | 'neq'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'absent'; key: string };

export type Matcher = (o: KObject) => boolean;

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') out.push(cur);
  return out.map((x) => x.trim()).filter(Boolean);
}

function parseLabelRequirement(term: string): Requirement {
  let m = /^([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (m?.[1] && m[2] && m[3] !== undefined) {
    const values = m[3]
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
    return { op: m[2] as 'in' | 'notin', key: m[1], values };
  }
  m = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)$/.exec(term);
  if (m?.[1] && m[2] && m[3] !== undefined) return { op: m[2] === '!=' ? 'neq' : 'eq', key: m[1], value: m[3] };
  m = /^(!?)([^\s!=()]+)$/.exec(term);
  if (m?.[2]) return { op: m[1] ? 'absent' : 'exists', key: m[2] };
  throw badRequest(`unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`);
}

function matchRequirement(req: Requirement, get: (k: string) => string | undefined): boolean {
  const v = get(req.key);
  switch (req.op) {
    case 'eq':
      return v === req.value;
    case 'neq':
      return v !== req.value;
    case 'in':
      return v !== undefined && req.values.includes(v);
    case 'notin':
      return v === undefined || !req.values.includes(v);
    case 'exists':
      return v !== undefined;
    case 'absent':
      return v === undefined;
  }
}

export function labelMatcher(selector: string | null | undefined): Matcher {
  if (!selector) return () => true;
  const reqs = splitTopLevel(selector).map(parseLabelRequirement);
  return (o) => reqs.every((r) => matchRequirement(r, (k) => o.metadata.labels?.[k]));
}

/** The value a field selector sees for `path` (dotted, as the API spells it). */
function fieldValue(o: KObject, path: string): string | undefined {
  let cur: unknown = o;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  return String(cur);
}

export function fieldMatcher(selector: string | null | undefined): Matcher {
  if (!selector) return () => true;
  const reqs = splitTopLevel(selector).map((term) => {
    const m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m?.[1] || !m[2] || m[3] === undefined)
      throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    return { key: m[1], neq: m[2] === '!=', value: m[3] };
  });
  return (o) => reqs.every((r) => (fieldValue(o, r.key) === r.value) !== r.neq);
}

/** Label selector of a Service (map) or a workload (matchLabels/matchExpressions). */
export function selectorMatches(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}
