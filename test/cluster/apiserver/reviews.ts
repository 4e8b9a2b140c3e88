// Review "resources" that are computed, never stored: SelfSubjectAccessReview
// (kubectl auth can-i), SelfSubjectRulesReview and SelfSubjectReview (whoami).
import type { Authenticator, Identity } from './auth.js';
import type { KObject } from './objects.js';
import type { ResourceRequest } from './request-info.js';
import { badRequest } from './status.js';

export function review(ri: ResourceRequest, body: KObject | undefined, id: Identity, auth: Authenticator): KObject {
  const out: KObject = {
    apiVersion: `${ri.def.group}/${ri.def.version}`,
    kind: ri.def.kind,
    metadata: { creationTimestamp: null as unknown as string },
    spec: body?.spec ?? {},
  };
  switch (ri.def.resource) {
    case 'selfsubjectaccessreviews': {
      const ra = body?.spec?.resourceAttributes;
      const nra = body?.spec?.nonResourceAttributes;
      let allowed: boolean;
      if (ra) {
        allowed = auth.authorize(id, {
          verb: ra.verb ?? '',
          group: ra.group ?? '',
          resource: ra.resource ?? '',
          subresource: ra.subresource || undefined,
          namespace: ra.namespace || undefined,
          name: ra.name || undefined,
        });
      } else if (nra) {
        allowed = auth.authorize(id, { verb: nra.verb ?? '', group: '', resource: '', path: nra.path ?? '' });
      } else throw badRequest('spec.resourceAttributes or spec.nonResourceAttributes is required');
      out.status = allowed ? { allowed: true, reason: 'RBAC: allowed by RoleBinding' } : { allowed: false };
      return out;
    }
    case 'selfsubjectrulesreviews': {
      const ns = body?.spec?.namespace ?? ri.namespace ?? 'default';
      out.status = {
        resourceRules: auth.rulesFor(id, ns),
        nonResourceRules: [
          {
            verbs: ['get'],
            nonResourceURLs: [
              '/api',
              '/api/*',
              '/apis',
              '/apis/*',
              '/healthz',
              '/livez',
              '/openapi',
              '/openapi/*',
              '/readyz',
              '/version',
              '/version/',
            ],
          },
        ],
        incomplete: false,
      };
      return out;
    }
    default:
      out.status = { userInfo: { username: id.user, groups: id.groups } };
      return out;
  }
}
