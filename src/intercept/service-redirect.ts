// Pointing an intercepted Service at its router, and back. The only change
// kvpn makes to a user's Service is its `spec.selector`, with the original
// kept in an annotation written in the same update (and, by the caller, in
// its journal before that). Both updates are JSON patches guarded by the
// Service's resourceVersion, so a concurrent edit is never overwritten.
//
//   redirect: selector S ─► router selector R, annotation original-selector = S
//   restore:  selector R ─► S (from the annotation, else the journal), annotation removed
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import type { KubeJson } from '../relay/manifest.js';
import { InterceptError, interceptForbidden } from './errors.js';
import { ANNOTATION_ORIGINAL_SELECTOR, routerSelector, type ServicePort } from './router-manifest.js';

const JSON_PATCH = 'application/json-patch+json';
const ATTEMPTS = 5;

export function servicePath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;
}

/** A JSON pointer segment (RFC 6901): `/` and `~` escaped, as annotation keys need. */
const pointer = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

export interface InterceptableService {
  name: string;
  uid: string;
  ports: ServicePort[];
  /** The workload's selector: the Service's own, or the one kept while it is redirected. */
  selector: Record<string, string>;
  redirected: boolean;
}

export async function readService(client: KubeClient, namespace: string, name: string): Promise<KubeJson | undefined> {
  try {
    return await client.request<KubeJson>('GET', servicePath(namespace, name));
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    throw err;
  }
}

function sameSelector(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {});
  return ka.length === Object.keys(b ?? {}).length && ka.every((k) => a?.[k] === b?.[k]);
}

/** What kvpn needs of a Service, or why it cannot be intercepted. */
export function interceptable(svc: KubeJson): InterceptableService {
  const name = svc.metadata.name as string;
  const spec = svc.spec ?? {};
  const kept = svc.metadata.annotations?.[ANNOTATION_ORIGINAL_SELECTOR];
  const redirected = sameSelector(spec.selector, routerSelector(name));
  let selector: Record<string, string> | undefined = spec.selector;
  if (redirected) {
    try {
      selector = kept ? (JSON.parse(kept) as Record<string, string>) : undefined;
    } catch {
      selector = undefined;
    }
    if (!selector)
      throw new InterceptError(
        'KVPN_ERR_INTERCEPT_SERVICE',
        'cluster',
        `Service ${name} points at a kvpn router but does not say what it selected before`,
        {
          remedy: `Restore its selector by hand (kubectl edit service ${name}); kvpn will not guess it.`,
        },
      );
  }
  if (spec.clusterIP === 'None')
    throw new InterceptError(
      'KVPN_ERR_INTERCEPT_SERVICE',
      'user',
      `Service ${name} is headless: its clients connect to pod IPs, which kvpn cannot redirect`,
      {
        remedy: 'Intercept a workload behind a ClusterIP Service.',
      },
    );
  if (!selector || Object.keys(selector).length === 0)
    throw new InterceptError(
      'KVPN_ERR_INTERCEPT_SERVICE',
      'user',
      `Service ${name} has no selector (its endpoints are managed by hand)`,
      {
        remedy: 'Intercept a workload behind a Service that selects its pods.',
      },
    );
  const ports = (spec.ports ?? []) as ServicePort[];
  const other = ports.find((p) => (p.protocol ?? 'TCP') !== 'TCP');
  if (other)
    throw new InterceptError(
      'KVPN_ERR_INTERCEPT_SERVICE',
      'user',
      `Service ${name} has a ${other.protocol} port (${other.port}); kvpn intercepts Services whose ports are all TCP`,
      {
        remedy: 'Intercept a Service with TCP ports only.',
      },
    );
  return { name, uid: svc.metadata.uid as string, ports, selector, redirected };
}

/** Points the Service at the router, keeping its selector in an annotation, in one guarded update. */
export async function redirectService(client: KubeClient, namespace: string, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const svc = await readService(client, namespace, name);
    if (!svc)
      throw new InterceptError(
        'KVPN_ERR_INTERCEPT_SERVICE',
        'cluster',
        `Service ${name} was deleted while being intercepted`,
      );
    const target = interceptable(svc);
    if (target.redirected) return;
    const ops: KubeJson[] = [{ op: 'test', path: '/metadata/resourceVersion', value: svc.metadata.resourceVersion }];
    const value = JSON.stringify(target.selector);
    if (svc.metadata.annotations)
      ops.push({ op: 'add', path: `/metadata/annotations/${pointer(ANNOTATION_ORIGINAL_SELECTOR)}`, value });
    else ops.push({ op: 'add', path: '/metadata/annotations', value: { [ANNOTATION_ORIGINAL_SELECTOR]: value } });
    ops.push({ op: 'replace', path: '/spec/selector', value: routerSelector(name) });
    if (await guardedPatch(client, namespace, name, ops, attempt)) return;
  }
}

/**
 * Gives the Service its own selector back (from its annotation, else `fallback` from the
 * journal) and removes the annotation. 'absent' when it is gone or no longer redirected.
 */
export async function restoreService(
  client: KubeClient,
  namespace: string,
  name: string,
  fallback?: Record<string, string>,
): Promise<'restored' | 'absent'> {
  for (let attempt = 1; ; attempt++) {
    const svc = await readService(client, namespace, name);
    if (!svc) return 'absent';
    const annotations = svc.metadata.annotations ?? {};
    const kept = annotations[ANNOTATION_ORIGINAL_SELECTOR] as string | undefined;
    const redirected = sameSelector(svc.spec?.selector, routerSelector(name));
    if (!redirected && kept === undefined) return 'absent';
    const ops: KubeJson[] = [{ op: 'test', path: '/metadata/resourceVersion', value: svc.metadata.resourceVersion }];
    if (redirected) {
      let original: Record<string, string> | undefined = fallback;
      try {
        if (kept) original = JSON.parse(kept) as Record<string, string>;
      } catch {
        // A mangled annotation: the journal's copy is the one to trust.
      }
      if (!original)
        throw new InterceptError(
          'KVPN_ERR_INTERCEPT_SERVICE',
          'cluster',
          `cannot tell what Service ${name} selected before it was intercepted`,
          {
            remedy: `Restore its selector by hand (kubectl edit service ${name}).`,
          },
        );
      ops.push({ op: 'replace', path: '/spec/selector', value: original });
    }
    if (kept !== undefined) {
      // The annotation map goes with its last key, so the Service reads back exactly as before.
      if (Object.keys(annotations).length === 1) ops.push({ op: 'remove', path: '/metadata/annotations' });
      else ops.push({ op: 'remove', path: `/metadata/annotations/${pointer(ANNOTATION_ORIGINAL_SELECTOR)}` });
    }
    if (await guardedPatch(client, namespace, name, ops, attempt)) return 'restored';
  }
}

/** true when applied; false when the Service changed meanwhile (read it again); throws after ATTEMPTS. */
async function guardedPatch(
  client: KubeClient,
  namespace: string,
  name: string,
  ops: KubeJson[],
  attempt: number,
): Promise<boolean> {
  try {
    await client.request('PATCH', servicePath(namespace, name), { body: ops, contentType: JSON_PATCH });
    return true;
  } catch (err) {
    // 422 (a failed `test`) or 409: someone changed it between our read and write.
    if (err instanceof KubeApiError && (err.status === 422 || err.status === 409) && attempt < ATTEMPTS) return false;
    if (err instanceof KubeApiError && err.status === 403)
      throw interceptForbidden(err, namespace, `patch Service ${name}`);
    throw err;
  }
}
