// The errors of `kvpn mount` (docs/errors.md, KVPN_ERR_MOUNT_*), and the one
// place a refused API call becomes "missing verb X on Y".
import { KvpnError } from '../errors.js';
import type { KubeClient, RequestOptions } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';

export class MountError extends KvpnError {}

export const mountError = (code: `KVPN_ERR_MOUNT_${string}`, message: string, remedy: string): MountError =>
  new MountError(code, 'user', message, { remedy });

export function mountForbidden(err: KubeApiError, namespace: string, doing: string, remedy?: string): MountError {
  const { verb, resource } = err.missingRight();
  return new MountError(
    'KVPN_ERR_MOUNT_FORBIDDEN',
    'user',
    `not allowed to ${doing} in namespace "${namespace}": missing RBAC verb "${verb}" on "${resource}"`,
    {
      cause: err,
      remedy:
        remedy ??
        `Ask a namespace admin to bind the kvpn-mount Role from docs/rbac.md in "${namespace}" (it grants "${verb}" on "${resource}").`,
    },
  );
}

/** One API call; a 403 becomes KVPN_ERR_MOUNT_FORBIDDEN naming what was being done. */
export async function mountCall<T>(
  client: KubeClient,
  doing: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<T> {
  try {
    return await client.request<T>(method, path, options);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403) throw mountForbidden(err, client.namespace, doing);
    throw err;
  }
}
