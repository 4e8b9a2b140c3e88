// RBAC, asked without trying anything: one SelfSubjectAccessReview per
// right of each Role in rights.ts (each distinct right asked once, a few at
// a time). The tunnel Role decides whether `kvpn up` can run; the others
// are per-feature warnings. A review that cannot be made (401, unreachable)
// fails the required check and skips the rest.
import type { KubeClient } from '../kube/client.js';
import { type CheckResult, fail, failFrom, ok, skip, warn } from './check.js';
import { describeMissing, KVPN_ROLES, type Right, type RoleSpec, rightKey, rightsOf } from './rights.js';

/** Reviews in flight at once. */
export const REVIEWS_IN_FLIGHT = 8;
export const SSAR_PATH = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';

type ApiClient = Pick<KubeClient, 'request'>;

interface AccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string };
}

/** Whether the API server says the caller may exercise `right` in `namespace`. */
export async function mayI(client: ApiClient, namespace: string, right: Right): Promise<boolean> {
  const review = await client.request<AccessReview>('POST', SSAR_PATH, {
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: {
        resourceAttributes: {
          namespace,
          verb: right.verb,
          group: right.group,
          resource: right.resource,
          ...(right.subresource ? { subresource: right.subresource } : {}),
        },
      },
    },
  });
  return review?.status?.allowed === true;
}

/** Asks about each distinct right once; resolves with the refused ones' keys. */
async function refusedRights(client: ApiClient, namespace: string, rights: Right[]): Promise<Set<string>> {
  const refused = new Set<string>();
  const queue = [...rights];
  const worker = async (): Promise<void> => {
    for (let right = queue.shift(); right; right = queue.shift()) {
      if (!(await mayI(client, namespace, right))) refused.add(rightKey(right));
    }
  };
  await Promise.all(Array.from({ length: Math.min(REVIEWS_IN_FLIGHT, rights.length) }, worker));
  return refused;
}

function titleOf(role: RoleSpec): string {
  return role.required ? `RBAC: Role ${role.name} (kvpn up)` : `RBAC: Role ${role.name} (${role.feature})`;
}

export function rbacCheckId(role: RoleSpec): string {
  return role.required ? 'rbac' : `rbac-${role.name.replace(/^kvpn-/, '')}`;
}

/** One check per Role of docs/rbac.md, the required one first. */
export async function checkRbac(
  client: ApiClient,
  namespace: string,
  roles: readonly RoleSpec[] = KVPN_ROLES,
): Promise<CheckResult[]> {
  const all = rightsOf(roles.flatMap((r) => r.rules));
  let refused: Set<string>;
  try {
    refused = await refusedRights(client, namespace, all);
  } catch (err) {
    const [first, ...rest] = roles;
    if (!first) return [];
    const cannot = {
      ...failFrom(rbacCheckId(first), titleOf(first), err, 'cluster'),
      detail: `cannot ask the API server what you may do: ${failFrom('', '', err).detail}`,
    };
    return [cannot, ...rest.map((r) => skip(rbacCheckId(r), titleOf(r), 'not asked: access reviews failed (above)'))];
  }
  return roles.map((role) => {
    const rights = rightsOf(role.rules);
    const missing = rights.filter((r) => refused.has(rightKey(r)));
    const id = rbacCheckId(role);
    const title = titleOf(role);
    if (missing.length === 0) return ok(id, title, `all ${rights.length} rights in namespace "${namespace}"`);
    if (role.required) {
      return fail(
        id,
        title,
        `missing ${describeMissing(missing)} in namespace "${namespace}"`,
        'user',
        `Ask a cluster admin to bind the ${role.name} Role from docs/rbac.md in "${namespace}", or pick a namespace where you have it with --namespace.`,
      );
    }
    return warn(
      id,
      title,
      `${role.feature}: missing ${describeMissing(missing)} in namespace "${namespace}"`,
      `Bind the ${role.name} Role from docs/rbac.md in "${namespace}" (${role.feature}); kvpn up works without it.`,
    );
  });
}
