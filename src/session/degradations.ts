// What a session does without the optional reads of docs/rbac.md. Each
// refusal that a namespace Role could lift becomes one Degradation: what
// works less well, what kvpn does instead, and the rule that restores it.
// Refusals only a ClusterRole could lift (ServiceCIDRs, nodes, other
// namespaces) are the normal case for a namespace-scoped user: they stay in
// the CIDR notes and the log. Pure: discovery results and refused watches in.
import type { Ranges } from './discovery.js';
import type { Degradation } from './types.js';

const ENDPOINTSLICES = 'endpointslices.discovery.k8s.io';

/** The Service range is a guess: no ServiceCIDR and no dry-run create allowed. */
function serviceRange(ranges: Ranges, namespace: string): Degradation[] {
  const { source, cidrs, forbidden } = ranges.service;
  if (!forbidden.includes('create services')) return [];
  if (source === 'servicecidr-api' || source === 'invalid-clusterip') return [];
  const around =
    source === 'well-known-services'
      ? 'around the kubernetes and cluster DNS Services'
      : source === 'service-ips'
        ? `around the Services of "${namespace}"`
        : '';
  const guess = cidrs.length ? `guessed as ${cidrs.join(' ')} ${around}` : 'unknown';
  return [
    {
      what: `Service range ${guess}: a Service outside it is routed once its name is resolved, not by its IP alone`,
      restore: { verbs: ['create'], resources: ['services'], namespace },
    },
  ];
}

/** Pods could not even be listed in the namespace: no pod range, no pod watch. */
function podRange(ranges: Ranges, namespace: string): Degradation[] {
  if (!ranges.pod.forbidden.includes('list pods') || ranges.pod.source === 'node-podcidrs') return [];
  return [
    {
      what: 'pod range unknown: pod IPs are routed only once a name resolves to them',
      restore: { verbs: ['list', 'watch'], resources: ['pods'], namespace },
    },
  ];
}

/** Watches refused in the session's own namespace (a cluster-wide refusal alone is normal). */
function dnsWatches(forbidden: Record<string, string[]>, namespace: string, domain: string): Degradation[] {
  const refused = (kind: string) => forbidden[kind]?.includes(namespace) ?? false;
  const out: Degradation[] = [];
  const serviceKinds = [refused('services') ? 'services' : '', refused('endpointslices') ? ENDPOINTSLICES : ''];
  if (serviceKinds.some(Boolean)) {
    out.push({
      what: `DNS: Service names in ${domain} are answered by the cluster DNS through the tunnel (a round trip each), not from a watch`,
      restore: { verbs: ['list', 'watch'], resources: serviceKinds.filter(Boolean), namespace },
    });
  }
  if (refused('pods')) {
    out.push({
      what: `DNS: pod names in ${domain} are answered by the cluster DNS through the tunnel, not from a watch`,
      restore: { verbs: ['list', 'watch'], resources: ['pods'], namespace },
    });
  }
  return out;
}

export interface DegradationInput {
  ranges: Ranges | undefined;
  /** From DnsSetup.forbiddenWatches(); {} with DNS off. */
  forbiddenWatches: Record<string, string[]>;
  namespace: string;
  clusterDomain: string | undefined;
}

export function degradations(input: DegradationInput): Degradation[] {
  const { ranges, namespace } = input;
  return [
    ...(ranges ? serviceRange(ranges, namespace) : []),
    ...(ranges ? podRange(ranges, namespace) : []),
    ...dnsWatches(input.forbiddenWatches, namespace, input.clusterDomain ?? 'the cluster domain'),
  ];
}
