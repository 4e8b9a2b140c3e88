// Which address ranges belong to the cluster (docs/design.md §9). Each
// source is tried in order of precision and a refusal (403, 404, a missing
// field) moves on to the next, so a namespace-scoped user still gets working
// ranges, and a user with only the tunnel Role (docs/rbac.md) is not stopped:
//   Services: ServiceCIDR API → the ranges quoted by the "invalid ClusterIP"
//             errors of dry-run creates, one per IP family → a /16 (v6: /112)
//             around every Service IP seen
//             → (none: src/session/discovery.ts then covers the kubernetes
//             and cluster DNS Services, found through the tunnel).
//   Pods:     nodes' spec.podCIDRs → a cover of the pod IPs seen, kept up to
//             date by a pod watch (new ranges are reported as pods appear).

import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { Informer, type KubeObject } from '../kube/informer.js';
import { around, type Cidr, containsIp, formatCidr, merge, parseCidr } from '../net/cidr.js';
import { parseIpNumber } from '../net/ip.js';

/** Prefix lengths of the cover built around observed addresses. */
export const SERVICE_COVER_PREFIX = { 4: 16, 6: 112 } as const;
export const POD_COVER_PREFIX = { 4: 16, 6: 64 } as const;
/** Per family, an address no cluster hands out as a ClusterIP (TEST-NET-1, RFC 3849's documentation prefix). */
export const PROBE_CLUSTER_IPS = { IPv4: '192.0.2.1', IPv6: '2001:db8::1' } as const;

export type ServiceCidrSource =
  | 'servicecidr-api'
  | 'invalid-clusterip'
  | 'service-ips'
  | 'well-known-services'
  | 'none';
export type PodCidrSource = 'node-podcidrs' | 'pod-ips' | 'none';

export interface CidrDiscovery<S> {
  cidrs: string[];
  source: S;
  /** Why more precise sources were skipped, for logs and `status`. */
  notes: string[];
  /** Rights RBAC refused in the namespace ("create services"), which a Role could grant. */
  forbidden: string[];
}

interface ServiceCidrObject {
  spec?: { cidrs?: string[] };
}
interface ServiceObject extends KubeObject {
  spec?: { clusterIP?: string; clusterIPs?: string[] };
}
interface NodeObject extends KubeObject {
  spec?: { podCIDR?: string; podCIDRs?: string[] };
}
export interface PodObject extends KubeObject {
  spec?: { hostNetwork?: boolean };
  status?: { podIP?: string; podIPs?: { ip: string }[] };
}

function describe(err: unknown): string {
  if (err instanceof KubeApiError)
    return `${err.status} ${err.reason ?? ''} ${err.apiMessage}`.replace(/\s+/g, ' ').trim();
  return (err as Error).message;
}

function isForbidden(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 403;
}

/** Hard failures (unreachable API, expired credentials) end discovery; refusals fall through. */
function isRefusal(err: unknown): boolean {
  return err instanceof KubeApiError && [403, 404, 405, 422, 400].includes(err.status);
}

function validCidrs(list: readonly string[]): string[] {
  const out: Cidr[] = [];
  for (const text of list) {
    try {
      out.push(parseCidr(text));
    } catch {}
  }
  return merge(out).map(formatCidr);
}

function cover(ips: Iterable<string>, prefix: { 4: number; 6: number }): string[] {
  const out: Cidr[] = [];
  for (const ip of ips) {
    try {
      const { family, value } = parseIpNumber(ip);
      out.push(around(family, value, prefix[family]));
    } catch {}
  }
  return merge(out).map(formatCidr);
}

/** Extracts the CIDRs quoted after "The range of valid IPs is" in an API error message. */
export function rangesFromInvalidClusterIpMessage(message: string): string[] {
  const at = message.indexOf('valid IPs is');
  if (at < 0) return [];
  const tail = message.slice(at + 'valid IPs is'.length);
  return validCidrs(tail.match(/[0-9a-fA-F:.]+\/\d{1,3}/g) ?? []);
}

async function fromServiceCidrApi(client: KubeClient): Promise<string[]> {
  for (const version of ['v1', 'v1beta1']) {
    try {
      const list = await client.request<{ items?: ServiceCidrObject[] }>(
        'GET',
        `/apis/networking.k8s.io/${version}/servicecidrs`,
      );
      const cidrs = validCidrs((list.items ?? []).flatMap((i) => i.spec?.cidrs ?? []));
      if (cidrs.length) return cidrs;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) continue;
      throw err;
    }
  }
  throw new KubeApiError('GET', '/apis/networking.k8s.io/*/servicecidrs', 404, {
    message: 'ServiceCIDR API not served',
  });
}

/**
 * One dry-run create per family: a single-stack Service of that family with
 * the probe address as its ClusterIP. A family the cluster lacks answers
 * 422 without a range ("spec.ipFamilies[0]: … not configured on this
 * cluster"), so it is simply absent; the probe fails only if no family
 * quotes a range (with the first family's error).
 */
async function fromInvalidClusterIp(client: KubeClient, namespace: string): Promise<string[]> {
  const found: string[] = [];
  let firstError: unknown;
  for (const [family, clusterIP] of Object.entries(PROBE_CLUSTER_IPS)) {
    const body = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kvpn-cidr-probe' },
      spec: { clusterIP, ipFamilies: [family], ipFamilyPolicy: 'SingleStack', ports: [{ port: 443 }] },
    };
    try {
      await client.request('POST', `/api/v1/namespaces/${namespace}/services`, { body, query: { dryRun: 'All' } });
      firstError ??= new KubeApiError('POST', 'services (dry run)', 422, {
        message: `the probe ClusterIP ${clusterIP} was accepted`,
      });
    } catch (err) {
      // Only "invalid" is about the family; a 403 or an unreachable API would answer every probe alike.
      if (!(err instanceof KubeApiError) || err.status !== 422) throw err;
      const cidrs = rangesFromInvalidClusterIpMessage(err.apiMessage);
      if (cidrs.length) found.push(...cidrs);
      else firstError ??= err;
    }
  }
  if (found.length) return validCidrs(found);
  throw firstError;
}

/** Cluster-wide, else the namespace; undefined (and a note) if neither may be listed. */
async function listAcross<T extends KubeObject>(
  client: KubeClient,
  resource: string,
  namespace: string,
  found: { notes: string[]; forbidden: string[] },
): Promise<T[] | undefined> {
  try {
    return (await client.request<{ items?: T[] }>('GET', `/api/v1/${resource}`)).items ?? [];
  } catch (err) {
    if (!isRefusal(err)) throw err;
  }
  try {
    return (await client.request<{ items?: T[] }>('GET', `/api/v1/namespaces/${namespace}/${resource}`)).items ?? [];
  } catch (err) {
    if (!isRefusal(err)) throw err;
    found.notes.push(`${resource} in ${namespace}: ${describe(err)}`);
    if (isForbidden(err)) found.forbidden.push(`list ${resource}`);
    return undefined;
  }
}

/** The /16 (v6: /112) cover of Service IPs, wherever they were seen. */
export function serviceIpCover(ips: Iterable<string>): string[] {
  return cover(
    [...ips].filter((ip) => ip !== 'None'),
    SERVICE_COVER_PREFIX,
  );
}

export async function discoverServiceCidrs(
  client: KubeClient,
  namespace: string,
): Promise<CidrDiscovery<ServiceCidrSource>> {
  const notes: string[] = [];
  const forbidden: string[] = [];
  try {
    return { cidrs: await fromServiceCidrApi(client), source: 'servicecidr-api', notes, forbidden };
  } catch (err) {
    if (!isRefusal(err)) throw err;
    notes.push(`ServiceCIDR API: ${describe(err)}`);
  }
  try {
    return { cidrs: await fromInvalidClusterIp(client, namespace), source: 'invalid-clusterip', notes, forbidden };
  } catch (err) {
    if (!isRefusal(err)) throw err;
    notes.push(`invalid-ClusterIP probe: ${describe(err)}`);
    if (isForbidden(err)) forbidden.push('create services');
  }
  const services = await listAcross<ServiceObject>(client, 'services', namespace, { notes, forbidden });
  const ips = (services ?? []).flatMap((s) => s.spec?.clusterIPs ?? (s.spec?.clusterIP ? [s.spec.clusterIP] : []));
  const cidrs = serviceIpCover(ips);
  return { cidrs, source: cidrs.length ? 'service-ips' : 'none', notes, forbidden };
}

export function podIps(pod: PodObject): string[] {
  if (pod.spec?.hostNetwork) return [];
  const ips = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  return ips.filter(Boolean);
}

export async function discoverPodCidrs(client: KubeClient, namespace: string): Promise<CidrDiscovery<PodCidrSource>> {
  const notes: string[] = [];
  const forbidden: string[] = [];
  try {
    const nodes = (await client.request<{ items?: NodeObject[] }>('GET', '/api/v1/nodes')).items ?? [];
    const cidrs = validCidrs(nodes.flatMap((n) => n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])));
    if (cidrs.length) return { cidrs, source: 'node-podcidrs', notes, forbidden };
    notes.push('nodes: no podCIDRs set (the CNI allocates pod IPs itself)');
  } catch (err) {
    if (!isRefusal(err)) throw err;
    notes.push(`nodes: ${describe(err)}`);
  }
  const pods = await listAcross<PodObject>(client, 'pods', namespace, { notes, forbidden });
  const cidrs = cover((pods ?? []).flatMap(podIps), POD_COVER_PREFIX);
  return { cidrs, source: cidrs.length ? 'pod-ips' : 'none', notes, forbidden };
}

/** The cover prefix around one IP (a pod's by default), or undefined if `known` already contains it. */
export function uncoveredRange(
  ip: string,
  known: readonly string[],
  prefix: { 4: number; 6: number } = POD_COVER_PREFIX,
): string | undefined {
  let parsed: { family: 4 | 6; value: bigint };
  try {
    parsed = parseIpNumber(ip);
  } catch {
    return undefined;
  }
  for (const text of known) {
    try {
      if (containsIp(parseCidr(text), parsed.family, parsed.value)) return undefined;
    } catch {}
  }
  return formatCidr(around(parsed.family, parsed.value, prefix[parsed.family]));
}

export interface PodRangeWatcherOptions {
  /** Ranges already routed; a pod outside all of them triggers `onNewRange`. */
  known: () => readonly string[];
  onNewRange: (cidr: string, podName: string) => void;
  onError?: (err: Error) => void;
}

/**
 * Watches pods (cluster-wide when allowed, else the namespace) and reports
 * each pod IP that falls outside the known ranges as a new cover range.
 */
export async function watchPodRanges(
  client: KubeClient,
  namespace: string,
  options: PodRangeWatcherOptions,
): Promise<{ close(): void }> {
  let path = '/api/v1/pods';
  try {
    await client.request('GET', path, { query: { limit: 1 } });
  } catch (err) {
    if (!isRefusal(err)) throw err;
    path = `/api/v1/namespaces/${namespace}/pods`;
  }
  const informer = new Informer<PodObject>(client, path, {
    onEvent(type, pod) {
      if (type === 'DELETED') return;
      for (const ip of podIps(pod)) {
        const range = uncoveredRange(ip, options.known());
        if (range) options.onNewRange(range, pod.metadata.name);
      }
    },
    ...(options.onError ? { onError: options.onError } : {}),
  });
  informer.start();
  return { close: () => informer.close() };
}
