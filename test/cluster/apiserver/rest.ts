// CRUD on stored resources: get, list (with selectors, limit/continue and
// Table output), watch, create, update, patch, delete, with the real
// status codes, dry-run and graceful deletion of pods and namespaces.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Admission } from './admission.js';
import { readBody, readJson, writeJson } from './http-io.js';
import { clone, type KObject, timestamp } from './objects.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import type { ResourceRequest } from './request-info.js';
import { groupVersion, type ResourceDef, resourceKey } from './resources.js';
import { fieldMatcher, labelMatcher } from './selectors.js';
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  methodNotAllowed,
  notFound,
  unsupportedMediaType,
} from './status.js';
import { type Store, StoreConflict } from './store.js';
import { type IncludeObject, toTable } from './tables.js';
import { serveWatch } from './watch.js';

/** Kinds whose spec and status are written through different endpoints. */
const HAS_STATUS = new Set([
  'Pod',
  'Service',
  'Namespace',
  'Node',
  'Deployment',
  'StatefulSet',
  'ReplicaSet',
  'ServiceCIDR',
]);
/** Kinds whose DELETE answers with the object rather than a Status. */
const RETURNS_DELETED_OBJECT = new Set(['Pod', 'Service', 'Namespace']);

export class Rest {
  readonly store: Store;
  readonly admission: Admission;

  constructor(store: Store, admission: Admission) {
    this.store = store;
    this.admission = admission;
  }

  async handle(req: IncomingMessage, res: ServerResponse, ri: ResourceRequest): Promise<void> {
    const ns = ri.def.namespaced ? ri.namespace : undefined;
    switch (ri.verb) {
      case 'get':
        return this.#get(req, res, ri, ns);
      case 'list':
        return this.#list(req, res, ri, ns);
      case 'watch':
        return this.#watch(req, res, ri, ns);
      case 'create':
        return this.#create(req, res, ri, ns);
      case 'update':
        return this.#update(req, res, ri, ns);
      case 'patch':
        return this.#patch(req, res, ri, ns);
      case 'delete':
        return this.#delete(req, res, ri, ns);
      case 'deletecollection':
        return this.#deleteCollection(res, ri, ns);
      default:
        throw methodNotAllowed();
    }
  }

  typed(def: ResourceDef, o: KObject): KObject {
    return { apiVersion: groupVersion(def), kind: def.kind, ...o, metadata: o.metadata };
  }

  #mustGet(def: ResourceDef, ns: string | undefined, name: string): KObject {
    const o = this.store.get(resourceKey(def), ns, name);
    if (!o) throw notFound(def, name);
    return o;
  }

  #get(req: IncomingMessage, res: ServerResponse, ri: ResourceRequest, ns: string | undefined): void {
    const o = this.#mustGet(ri.def, ns, ri.name ?? '');
    const table = tableRequest(req);
    if (table) {
      writeJson(
        res,
        200,
        toTable(ri.def.kind, [o], { resourceVersion: o.metadata.resourceVersion }, table.version, table.include),
      );
      return;
    }
    writeJson(res, 200, this.typed(ri.def, o));
  }

  #list(req: IncomingMessage, res: ServerResponse, ri: ResourceRequest, ns: string | undefined): void {
    const label = labelMatcher(ri.query.get('labelSelector'));
    const field = fieldMatcher(ri.query.get('fieldSelector'));
    let items = this.store.list(resourceKey(ri.def), ns).filter((o) => label(o) && field(o));
    const rv = String(this.store.resourceVersion);
    const meta: Record<string, unknown> = { resourceVersion: rv };
    const cont = ri.query.get('continue');
    if (cont) {
      const after = decodeContinue(cont);
      items = items.filter((o) => itemKey(o) > after);
    }
    const limit = Number(ri.query.get('limit') ?? 0);
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit);
      const last = items[items.length - 1] as KObject;
      meta.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: itemKey(last) })).toString('base64');
      meta.remainingItemCount = undefined;
    }
    const table = tableRequest(req);
    if (table) {
      writeJson(res, 200, toTable(ri.def.kind, items, meta, table.version, table.include));
      return;
    }
    writeJson(res, 200, { kind: `${ri.def.kind}List`, apiVersion: groupVersion(ri.def), metadata: meta, items });
  }

  #watch(req: IncomingMessage, res: ServerResponse, ri: ResourceRequest, ns: string | undefined): void {
    const label = labelMatcher(ri.query.get('labelSelector'));
    const field = fieldMatcher(ri.query.get('fieldSelector'));
    const timeout = ri.query.get('timeoutSeconds');
    serveWatch(this.store, res, {
      def: ri.def,
      namespace: ns,
      matches: (o) => label(o) && field(o),
      resourceVersion: ri.query.get('resourceVersion'),
      timeoutSeconds: timeout === null ? undefined : Number(timeout),
      bookmarks: ri.query.get('allowWatchBookmarks') === 'true',
      sendInitialEvents: ri.query.get('sendInitialEvents') === 'true',
      table: tableRequest(req),
    });
  }

  #checkNamespace(ns: string | undefined, forCreate: boolean): void {
    if (ns === undefined) return;
    const nsObj = this.store.get('namespaces', undefined, ns);
    if (!nsObj) throw new ApiError(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
    if (forCreate && nsObj.status?.phase === 'Terminating') {
      throw new ApiError(
        403,
        'Forbidden',
        `unable to create new content in namespace ${ns} because it is being terminated`,
        {
          causes: [
            {
              reason: 'NamespaceTerminating',
              message: `namespace ${ns} is being terminated`,
              field: 'metadata.namespace',
            },
          ],
        },
      );
    }
  }

  #decode(ri: ResourceRequest, body: unknown, ns: string | undefined): KObject {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw badRequest('the body of the request was empty or not an object');
    const o = body as KObject;
    const gv = groupVersion(ri.def);
    if (o.apiVersion !== undefined && o.apiVersion !== gv) {
      throw badRequest(`the API version in the data (${o.apiVersion}) does not match the expected API version (${gv})`);
    }
    if (o.kind !== undefined && o.kind !== ri.def.kind) {
      throw badRequest(`the kind in the data (${o.kind}) does not match the expected kind (${ri.def.kind})`);
    }
    o.metadata ??= {};
    if (ns !== undefined) {
      if (o.metadata.namespace !== undefined && o.metadata.namespace !== '' && o.metadata.namespace !== ns) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      o.metadata.namespace = ns;
    } else delete o.metadata.namespace;
    return o;
  }

  /** Stores a new object after admission; shared with server-side apply. */
  createObject(def: ResourceDef, obj: KObject, dryRun: boolean): KObject {
    this.#checkNamespace(obj.metadata.namespace, true);
    for (const f of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'generation'])
      delete obj.metadata[f];
    this.admission.admitCreate(def, obj, dryRun);
    if (dryRun) {
      if (this.store.get(resourceKey(def), obj.metadata.namespace, obj.metadata.name ?? ''))
        throw alreadyExists(def, obj.metadata.name ?? '');
      obj.metadata.creationTimestamp = timestamp();
      return obj;
    }
    try {
      return this.store.create(resourceKey(def), obj);
    } catch (err) {
      this.admission.released(obj);
      if (err instanceof StoreConflict) throw alreadyExists(def, obj.metadata.name ?? '');
      throw err;
    }
  }

  async #create(req: IncomingMessage, res: ServerResponse, ri: ResourceRequest, ns: string | undefined): Promise<void> {
    if (ri.subresource !== undefined || ri.name !== undefined) throw methodNotAllowed();
    const obj = this.#decode(ri, await readJson(req), ns);
    const created = this.createObject(ri.def, obj, isDryRun(ri));
    writeJson(res, 201, this.typed(ri.def, created));
  }

  /** Replaces `name` with `next` (spec or status side), with RV precondition. */
  #replace(ri: ResourceRequest, ns: string | undefined, next: KObject, expectRv: string | undefined): KObject {
    const key = resourceKey(ri.def);
    const name = ri.name ?? '';
    const cur = this.#mustGet(ri.def, ns, name);
    if ((next.metadata.name ?? name) !== name)
      throw badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`);
    next.metadata.name = name;
    let result: KObject;
    if (ri.subresource === 'status') {
      result = { ...cur, status: next.status };
    } else {
      result = next;
      if (HAS_STATUS.has(ri.def.kind)) result.status = cur.status;
      result.metadata.deletionTimestamp = cur.metadata.deletionTimestamp;
      this.admission.admitUpdate(ri.def, cur, result);
    }
    if (isDryRun(ri)) return result;
    try {
      const stored = this.store.update(key, result, expectRv);
      this.#finishIfFinalized(ri.def, stored);
      return stored;
    } catch (err) {
      if (err instanceof StoreConflict && err.reason === 'Conflict') throw conflict(ri.def, name);
      if (err instanceof StoreConflict) throw notFound(ri.def, name);
      throw err;
    }
  }

  async #update(req: IncomingMessage, res: ServerResponse, ri: ResourceRequest, ns: string | undefined): Promise<void> {
    if (ri.subresource !== undefined && ri.subresource !== 'status') throw methodNotAllowed();
    const obj = this.#decode(ri, await readJson(req), ns);
    const updated = this.#replace(ri, ns, obj, obj.metadata.resourceVersion);
    writeJson(res, 200, this.typed(ri.def, updated));
  }

  async #patch(req: IncomingMessage, res: ServerResponse, ri: ResourceRequest, ns: string | undefined): Promise<void> {
    if (ri.subresource !== undefined && ri.subresource !== 'status') throw methodNotAllowed();
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
    const raw = (await readBody(req)).toString('utf8');
    let patch: unknown;
    try {
      patch = JSON.parse(raw);
    } catch {
      throw badRequest('error decoding patch: the patch body is not JSON');
    }
    const name = ri.name ?? '';
    const cur = this.store.get(resourceKey(ri.def), ns, name);
    if (type === 'application/apply-patch+yaml') {
      if (!cur) {
        const obj = this.#decode(ri, patch, ns);
        const created = this.createObject(ri.def, obj, isDryRun(ri));
        writeJson(res, 201, this.typed(ri.def, created));
        return;
      }
      const merged = strategicMergePatch(this.typed(ri.def, cur), this.#decode(ri, patch, ns));
      writeJson(res, 200, this.typed(ri.def, this.#replace(ri, ns, merged, undefined)));
      return;
    }
    if (!cur) throw notFound(ri.def, name);
    const base = this.typed(ri.def, cur);
    let next: KObject;
    switch (type) {
      case 'application/merge-patch+json':
        next = mergePatch(base, patch);
        break;
      case 'application/strategic-merge-patch+json':
        next = strategicMergePatch(base, patch);
        break;
      case 'application/json-patch+json':
        next = jsonPatch(base, patch);
        break;
      default:
        throw unsupportedMediaType(type);
    }
    const expectRv = (patch as KObject)?.metadata?.resourceVersion;
    next = this.#decode(ri, next, ns);
    writeJson(
      res,
      200,
      this.typed(ri.def, this.#replace(ri, ns, next, typeof expectRv === 'string' ? expectRv : undefined)),
    );
  }

  /** An object whose last finalizer went away while it was being deleted is removed. */
  #finishIfFinalized(def: ResourceDef, o: KObject): void {
    if (
      o.metadata.deletionTimestamp &&
      (o.metadata.finalizers ?? []).length === 0 &&
      def.kind !== 'Pod' &&
      def.kind !== 'Namespace'
    ) {
      this.removeObject(def, o);
    }
  }

  removeObject(def: ResourceDef, o: KObject): KObject | undefined {
    try {
      const gone = this.store.remove(resourceKey(def), o.metadata.namespace, o.metadata.name ?? '');
      this.admission.released(gone);
      return gone;
    } catch (err) {
      if (err instanceof StoreConflict) return undefined;
      throw err;
    }
  }

  /** Deletes (or starts deleting) one object; returns what the client sees. */
  deleteObject(def: ResourceDef, o: KObject, graceSeconds: number | undefined, dryRun: boolean): KObject {
    if (dryRun) return o;
    const name = o.metadata.name ?? '';
    const ns = o.metadata.namespace;
    const key = resourceKey(def);
    const terminal = o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed';
    if (def.kind === 'Pod' && o.spec?.nodeName && !terminal) {
      // The kubelet stops the containers, then removes the object.
      const grace = graceSeconds ?? o.spec?.terminationGracePeriodSeconds ?? 30;
      if (grace === 0) {
        return this.removeObject(def, o) ?? o;
      }
      if (o.metadata.deletionTimestamp) return o;
      return (
        this.store.mutate(key, ns, name, (p) => {
          p.metadata.deletionTimestamp = timestamp(Date.now() + grace * 1000);
          p.metadata.deletionGracePeriodSeconds = grace;
        }) ?? o
      );
    }
    if (def.kind === 'Namespace') {
      return (
        this.store.mutate(key, undefined, name, (n) => {
          n.metadata.deletionTimestamp ??= timestamp();
          n.status = { ...n.status, phase: 'Terminating' };
        }) ?? o
      );
    }
    if ((o.metadata.finalizers ?? []).length > 0) {
      return (
        this.store.mutate(key, ns, name, (x) => {
          x.metadata.deletionTimestamp ??= timestamp();
        }) ?? o
      );
    }
    return this.removeObject(def, o) ?? o;
  }

  async #delete(req: IncomingMessage, res: ServerResponse, ri: ResourceRequest, ns: string | undefined): Promise<void> {
    if (ri.subresource !== undefined) throw methodNotAllowed();
    const body = (await readJson(req)) as { gracePeriodSeconds?: number; dryRun?: string[] } | undefined;
    const o = this.#mustGet(ri.def, ns, ri.name ?? '');
    const q = ri.query.get('gracePeriodSeconds');
    const grace = q !== null ? Number(q) : body?.gracePeriodSeconds;
    const dry = isDryRun(ri) || (body?.dryRun ?? []).includes('All');
    const after = this.deleteObject(ri.def, o, grace, dry);
    if (RETURNS_DELETED_OBJECT.has(ri.def.kind)) {
      writeJson(res, 200, this.typed(ri.def, after));
      return;
    }
    const details: Record<string, unknown> = { name: o.metadata.name, kind: ri.def.resource, uid: o.metadata.uid };
    if (ri.def.group) details.group = ri.def.group;
    writeJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details });
  }

  #deleteCollection(res: ServerResponse, ri: ResourceRequest, ns: string | undefined): void {
    const label = labelMatcher(ri.query.get('labelSelector'));
    const field = fieldMatcher(ri.query.get('fieldSelector'));
    const items = this.store.list(resourceKey(ri.def), ns).filter((o) => label(o) && field(o));
    const out = items.map((o) => this.deleteObject(ri.def, o, undefined, isDryRun(ri)));
    writeJson(res, 200, {
      kind: `${ri.def.kind}List`,
      apiVersion: groupVersion(ri.def),
      metadata: { resourceVersion: String(this.store.resourceVersion) },
      items: out.map((o) => clone(o)),
    });
  }
}

function itemKey(o: KObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}

function decodeContinue(token: string): string {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { start?: string };
    if (typeof v.start === 'string') return v.start;
  } catch {}
  throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}

export function isDryRun(ri: ResourceRequest): boolean {
  return ri.query.getAll('dryRun').includes('All');
}

/** Table output, if the Accept header asks for it (kubectl get does). */
export function tableRequest(req: IncomingMessage): { version: string; include: IncludeObject } | undefined {
  const accept = req.headers.accept ?? '';
  for (const part of accept.split(',')) {
    const params = part.split(';').map((s) => s.trim());
    if (!params.includes('as=Table')) continue;
    const v = params.find((p) => p.startsWith('v='))?.slice(2) ?? 'v1';
    const url = new URL(req.url ?? '/', 'https://x.invalid');
    const include = (url.searchParams.get('includeObject') ?? 'Metadata') as IncludeObject;
    return { version: `meta.k8s.io/${v}`, include };
  }
  return undefined;
}
