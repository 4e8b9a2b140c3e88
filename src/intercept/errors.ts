// The errors of `kvpn intercept` (docs/errors.md, KVPN_ERR_INTERCEPT_*), and
// the one place a refused API call becomes "missing verb X on Y".
import { KvpnError } from '../errors.js';
import type { KubeClient, RequestOptions } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';

export class InterceptError extends KvpnError {}

export function interceptForbidden(err: KubeApiError, namespace: string, doing: string): InterceptError {
  const { verb, resource } = err.missingRight();
  return new InterceptError(
    'KVPN_ERR_INTERCEPT_FORBIDDEN',
    'user',
    `not allowed to ${doing} in namespace "${namespace}": missing RBAC verb "${verb}" on "${resource}"`,
    {
      cause: err,
      remedy: `Ask a namespace admin to bind the kvpn-intercept Role from docs/rbac.md in "${namespace}" (it grants "${verb}" on "${resource}").`,
    },
  );
}

/** One API call; a 403 becomes KVPN_ERR_INTERCEPT_FORBIDDEN naming what was being done. */
export async function kubeCall<T>(
  client: KubeClient,
  doing: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<T> {
  try {
    return await client.request<T>(method, path, options);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403) throw interceptForbidden(err, client.namespace, doing);
    throw err;
  }
}

export const isStatus = (err: unknown, ...statuses: number[]): boolean =>
  err instanceof KubeApiError && statuses.includes(err.status);
