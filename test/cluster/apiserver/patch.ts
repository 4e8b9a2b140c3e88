// PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch (lists
// of named things merge by their key, as kubectl apply expects) and JSON
// patch (RFC 6902).
import { badRequest } from './status.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON documents
type Json = any;

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The key that identifies elements of a list field, per the API's patchMergeKey tags. */
function mergeKeyFor(field: string, sample: Json): string | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
      return 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'ports':
      return isObject(sample) && 'containerPort' in sample ? 'containerPort' : 'port';
    case 'conditions':
      return 'type';
    case 'ownerReferences':
      return 'uid';
    default:
      return undefined;
  }
}

const PRIMITIVE_SET_FIELDS = new Set(['finalizers']);

function strategicList(field: string, target: Json[] | undefined, patch: Json[]): Json[] {
  const sample = patch.find(isObject) ?? target?.find(isObject);
  const key = mergeKeyFor(field, sample);
  if (PRIMITIVE_SET_FIELDS.has(field)) {
    const out = [...(target ?? [])];
    for (const v of patch) if (!out.includes(v)) out.push(v);
    return out;
  }
  if (!key || !Array.isArray(target)) return patch.filter((e) => !(isObject(e) && e.$patch !== undefined));
  const out = target.map((e) => e);
  for (const el of patch) {
    if (!isObject(el)) continue;
    const idx = out.findIndex((e) => isObject(e) && e[key] === el[key]);
    if (el.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (el.$patch === 'replace') {
      const { $patch: _, ...rest } = el;
      if (idx >= 0) out[idx] = rest;
      else out.push(rest);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMergePatch(out[idx], el);
    else out.push(strategicMergePatch({}, el));
  }
  return out;
}

export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch;
    return rest;
  }
  if (patch.$patch === 'delete') return undefined;
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/') || k === '$retainKeys' || k === '$patch') continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = out[field].filter((x: Json) => !v.includes(x));
      continue;
    }
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = strategicList(k, out[k], v);
    else if (isObject(v)) {
      const merged = strategicMergePatch(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  return out;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`invalid JSON pointer ${path}`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, parts: string[]): { parent: Json; key: string } {
  let cur = doc;
  for (const p of parts.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(p)] : cur?.[p];
    if (cur === undefined) throw badRequest(`doc is missing path: "/${parts.join('/')}"`);
  }
  return { parent: cur, key: parts[parts.length - 1] ?? '' };
}

export function jsonPatch(doc: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  let out = structuredClone(doc);
  for (const op of ops) {
    const parts = pointer(String(op.path ?? ''));
    if (parts.length === 0) {
      if (op.op === 'replace' || op.op === 'add') out = structuredClone(op.value);
      continue;
    }
    const { parent, key } = parentOf(out, parts);
    const isArr = Array.isArray(parent);
    const idx = key === '-' ? (isArr ? parent.length : 0) : Number(key);
    switch (op.op) {
      case 'add':
        if (isArr) parent.splice(idx, 0, structuredClone(op.value));
        else parent[key] = structuredClone(op.value);
        break;
      case 'replace':
        if (isArr) parent[idx] = structuredClone(op.value);
        else parent[key] = structuredClone(op.value);
        break;
      case 'remove':
        if (isArr) parent.splice(idx, 1);
        else delete parent[key];
        break;
      case 'test': {
        const cur = isArr ? parent[idx] : parent[key];
        if (JSON.stringify(cur) !== JSON.stringify(op.value)) throw badRequest('testing value failed');
        break;
      }
      default:
        throw badRequest(`unsupported json patch operation ${op.op}`);
    }
  }
  return out;
}
