// Turns a request line into what the server acts on, as the real
// RequestInfoFactory does: resource requests (group, version, namespace,
// resource, name, subresource, verb) and non-resource paths.
import type { ResourceDef, ResourceTable } from './resources.js';
import { ApiError, pathNotFound } from './status.js';

export interface ResourceRequest {
  kind: 'resource';
  def: ResourceDef;
  verb: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  query: URLSearchParams;
}

export interface NonResourceRequest {
  kind: 'nonResource';
  verb: string;
  path: string;
  query: URLSearchParams;
}

export type RequestInfo = ResourceRequest | NonResourceRequest;

function nonResourceVerb(method: string): string {
  return method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
}

export function parseRequest(method: string, rawUrl: string, table: ResourceTable): RequestInfo {
  const url = new URL(rawUrl, 'https://apiserver.invalid');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const query = url.searchParams;
  const segs = path.split('/').filter(Boolean).map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 3) {
    group = '';
    version = segs[1] ?? '';
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 4) {
    group = segs[1] ?? '';
    version = segs[2] ?? '';
    rest = segs.slice(3);
  } else {
    return { kind: 'nonResource', verb: nonResourceVerb(method), path, query };
  }

  let namespace: string | undefined;
  let resource: string;
  let name: string | undefined;
  let subresource: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    resource = rest[2] ?? '';
    name = rest[3];
    subresource = rest[4];
    if (rest.length > 5) throw pathNotFound();
  } else {
    resource = rest[0] ?? '';
    name = rest[1];
    subresource = rest[2];
    if (rest.length > 3) throw pathNotFound();
  }
  // /api/v1/namespaces/NAME/status: the namespace is the object itself.
  if (
    resource !== 'namespaces' &&
    rest[0] === 'namespaces' &&
    rest.length <= 3 &&
    !table.find(group, version, resource)
  ) {
    namespace = undefined;
    name = rest[1];
    subresource = rest[2];
    resource = 'namespaces';
  }
  const def = table.find(group, version, resource);
  if (!def) throw pathNotFound();
  if (resource === 'namespaces') namespace = name;
  else if (!def.namespaced && namespace !== undefined) throw pathNotFound();
  if (subresource !== undefined && !def.subresources?.includes(subresource)) throw pathNotFound();

  const m = method.toUpperCase();
  let verb: string;
  switch (m) {
    case 'GET':
    case 'HEAD':
      if (name !== undefined) verb = 'get';
      else verb = query.get('watch') === 'true' || query.get('watch') === '1' ? 'watch' : 'list';
      break;
    case 'POST':
      verb = 'create';
      break;
    case 'PUT':
      verb = 'update';
      break;
    case 'PATCH':
      verb = 'patch';
      break;
    case 'DELETE':
      verb = name !== undefined ? 'delete' : 'deletecollection';
      break;
    default:
      throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  }
  const out: ResourceRequest = { kind: 'resource', def, verb, query };
  if (namespace !== undefined) out.namespace = namespace;
  if (name !== undefined) out.name = name;
  if (subresource !== undefined) out.subresource = subresource;
  return out;
}
