// Who is calling (bearer token, client certificate, or anonymous) and what
// they may do: RBAC-like rules, each user either cluster-wide or confined to
// a set of namespaces, like a RoleBinding; in those namespaces either
// everything or only the rules of its Role.
import type { TLSSocket } from 'node:tls';
import { unauthorized } from './status.js';

export interface Identity {
  user: string;
  groups: string[];
}

export interface RequestAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** Set for non-resource requests (/api, /version…). */
  path?: string;
}

/** One rule of a Role, as RBAC writes it; resources name subresources as `pods/portforward`. */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** One user the server knows. `namespaces` undefined = cluster-wide admin. */
export interface UserSpec {
  name: string;
  groups?: string[];
  token?: string;
  /** Namespaces the user's Role covers; undefined means cluster-admin. */
  namespaces?: string[];
  /** The Role's rules in those namespaces; undefined grants everything there. */
  rules?: PolicyRule[];
}

const ALL_RULE: PolicyRule = { verbs: ['*'], apiGroups: ['*'], resources: ['*'] };

/** RBAC's match: `*` matches any verb, group or resource (subresources included). */
function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const has = (list: string[], v: string): boolean => list.includes('*') || list.includes(v);
  return has(rule.verbs, a.verb) && has(rule.apiGroups, a.group) && has(rule.resources, resource);
}

const ANONYMOUS: Identity = { user: 'system:anonymous', groups: ['system:unauthenticated'] };
const PUBLIC_PATHS = ['/version', '/healthz', '/livez', '/readyz'];
const DISCOVERY_PREFIXES = ['/api', '/apis', '/openapi', '/version', '/healthz', '/livez', '/readyz'];
/** Self-reviews every authenticated user may create (system:basic-user). */
const SELF_REVIEWS = new Set(['selfsubjectaccessreviews', 'selfsubjectrulesreviews', 'selfsubjectreviews']);

export class Authenticator {
  #byToken = new Map<string, UserSpec>();
  #byName = new Map<string, UserSpec>();

  constructor(users: UserSpec[]) {
    for (const u of users) {
      this.#byName.set(u.name, u);
      if (u.token) this.#byToken.set(u.token, u);
    }
  }

  /** Throws 401 for a token nobody owns, as a real server does. */
  authenticate(authorization: string | undefined, socket: TLSSocket): Identity {
    if (authorization !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(authorization);
      const u = m?.[1] !== undefined ? this.#byToken.get(m[1]) : undefined;
      if (!u) throw unauthorized();
      return { user: u.name, groups: [...(u.groups ?? []), 'system:authenticated'] };
    }
    const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
    const cn = cert?.subject?.CN as string | string[] | undefined;
    if (cert && cn) {
      const o = cert.subject.O as string | string[] | undefined;
      const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
      return { user: Array.isArray(cn) ? (cn[0] ?? '') : cn, groups: [...groups, 'system:authenticated'] };
    }
    return ANONYMOUS;
  }

  authorize(id: Identity, a: RequestAttributes): boolean {
    if (id.groups.includes('system:masters')) return true;
    if (a.path !== undefined) {
      if (PUBLIC_PATHS.includes(a.path)) return true;
      if (!id.groups.includes('system:authenticated')) return false;
      return a.verb === 'get' && DISCOVERY_PREFIXES.some((p) => a.path === p || a.path?.startsWith(`${p}/`));
    }
    if (!id.groups.includes('system:authenticated')) return false;
    if (SELF_REVIEWS.has(a.resource) && a.verb === 'create') return true;
    const spec = this.#byName.get(id.user);
    if (!spec) return false;
    if (spec.namespaces === undefined) return true;
    // A Role: namespaced resources only, only in its namespaces, only what its rules grant.
    if (a.namespace === undefined || !spec.namespaces.includes(a.namespace)) return false;
    return (spec.rules ?? [ALL_RULE]).some((r) => ruleAllows(r, a));
  }

  /** What a SelfSubjectRulesReview reports for `namespace`. */
  rulesFor(id: Identity, namespace: string): PolicyRule[] {
    if (id.groups.includes('system:masters')) return [ALL_RULE];
    const spec = this.#byName.get(id.user);
    const rules = [{ verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: [...SELF_REVIEWS] }];
    if (spec && (spec.namespaces === undefined || spec.namespaces.includes(namespace)))
      rules.push(...(spec.namespaces === undefined ? [ALL_RULE] : (spec.rules ?? [ALL_RULE])));
    return rules;
  }
}
