// The answering core: pure, synchronous, no I/O. Given a parsed query and
// the current zone snapshot it either builds the reply, or says where the
// query must go (the cluster DNS through the tunnel, or the original
// upstream servers), or asks for an ExternalName target to be resolved.
import { CLASS_ANY, CLASS_IN, type DnsMessage, type EncodedRecords, type Query, RCODE, TYPE } from './codec.js';
import { inZone, isReverseName, labelsAbove, normalizeName } from './names.js';
import { NAMESPACE_LABEL } from './namespace-probe.js';
import { buildResponse, type Transport } from './response.js';
import { scopeCovers, type ZoneNode, type ZoneSnapshot } from './zone.js';

export interface AnswerPolicy {
  /** A cluster DNS is reachable: names in the zone we cannot settle go there. */
  clusterForwarding: boolean;
  /** Original upstream servers are known (resolv.conf mode): other names go there. */
  upstreamForwarding: boolean;
  /** Reverse zones of the cluster's CIDRs: unknown PTR names there go to the cluster DNS. */
  clusterReverseZones: readonly string[];
}

export type Outcome =
  | { kind: 'reply'; response: Buffer; local: boolean; rcode: number }
  | { kind: 'forward'; to: 'cluster' | 'upstream' }
  /** An ExternalName outside the zone: resolve `target` elsewhere, answer with `chain` + its records. */
  | { kind: 'chase'; chain: EncodedRecords[]; target: string }
  /**
   * Outside the zone, but the last label may be a namespace we cannot see:
   * if it is one, this is a short name tried as-is (NXDOMAIN); otherwise upstream.
   */
  | { kind: 'probe'; namespace: string };

const MAX_CNAME_CHAIN = 8;

export function decide(query: Query, zone: ZoneSnapshot, policy: AnswerPolicy, transport: Transport): Outcome {
  const reply = (
    rcode: number,
    answers: EncodedRecords[] = [],
    authority: EncodedRecords[] = [],
    local = true,
  ): Outcome => ({
    kind: 'reply',
    response: buildResponse(
      query,
      { rcode, authoritative: local && rcode !== RCODE.REFUSED, answers, authority },
      transport,
    ),
    local,
    rcode,
  });
  if (query.edns && query.edns.version > 0) return reply(RCODE.BADVERS, [], [], false);
  if (query.qclass !== CLASS_IN && query.qclass !== CLASS_ANY) return reply(RCODE.REFUSED, [], [], false);
  if (query.type === TYPE.AXFR || query.type === TYPE.IXFR) return reply(RCODE.REFUSED, [], [], false);

  const name = query.name;
  if (inZone(name, zone.domain)) {
    // No Kubernetes name holds a dot or an odd byte inside a label.
    if (!query.plainName) return reply(RCODE.NXDOMAIN, [], [zone.soa]);
    const node = zone.lookup(name);
    if (node) return answerNode(query, node, zone, reply, true);
    if (knownMissing(name, zone) || !policy.clusterForwarding) return reply(RCODE.NXDOMAIN, [], [zone.soa]);
    return { kind: 'forward', to: 'cluster' };
  }
  if (isReverseName(name)) {
    const node = zone.lookup(name);
    if (node) return answerNode(query, node, zone, reply, false);
    if (policy.clusterForwarding && policy.clusterReverseZones.some((z) => inZone(name, z))) {
      return { kind: 'forward', to: 'cluster' };
    }
  } else if (zone.isShortName(name)) {
    // "web.shop" tried as-is before the search list: fail fast so the
    // resolver moves on to web.shop.svc.<zone>.
    return reply(RCODE.NXDOMAIN);
  } else if (policy.upstreamForwarding && policy.clusterForwarding) {
    const dot = name.lastIndexOf('.');
    const last = name.slice(dot + 1);
    if (dot > 0 && query.plainName && NAMESPACE_LABEL.test(last) && !scopeCovers(zone.serviceScope, last)) {
      return { kind: 'probe', namespace: last };
    }
  }
  if (policy.upstreamForwarding) return { kind: 'forward', to: 'upstream' };
  return reply(RCODE.REFUSED, [], [], false);
}

/** True where our watches see everything, so a missing name really does not exist. */
function knownMissing(name: string, zone: ZoneSnapshot): boolean {
  const labels = labelsAbove(name, zone.domain);
  const n = labels.length;
  if (n < 2) return false;
  const kind = labels[n - 1];
  const namespace = labels[n - 2] ?? '';
  if (kind === 'svc') return scopeCovers(zone.serviceScope, namespace);
  if (kind === 'pod') return scopeCovers(zone.podScope, namespace);
  return false;
}

/** Records owned by the queried name: the owner becomes a pointer to the question. */
function owned(records: EncodedRecords): EncodedRecords {
  return records.atQuestion ?? records;
}

function answerNode(
  query: Query,
  node: ZoneNode,
  zone: ZoneSnapshot,
  reply: (rcode: number, answers?: EncodedRecords[], authority?: EncodedRecords[]) => Outcome,
  inClusterZone: boolean,
): Outcome {
  const negative = inClusterZone ? [zone.soa] : [];
  if (query.type === TYPE.ANY)
    return node.all.count ? reply(RCODE.NOERROR, [owned(node.all)]) : reply(RCODE.NOERROR, [], negative);
  const rrset = node.rrsets.get(query.type);
  if (rrset) return reply(RCODE.NOERROR, [owned(rrset)]);
  if (node.cname === undefined) return reply(RCODE.NOERROR, [], negative);

  // CNAME (ExternalName): follow it inside the zone, hand it out otherwise.
  const chain: EncodedRecords[] = [];
  let current: ZoneNode = node;
  for (let hops = 0; hops < MAX_CNAME_CHAIN; hops++) {
    const cname = current.rrsets.get(TYPE.CNAME);
    const target = current.cname;
    if (!cname || target === undefined) break;
    chain.push(hops === 0 ? owned(cname) : cname);
    const next = zone.lookup(target);
    if (!next) {
      if (inZone(target, zone.domain))
        return reply(knownMissing(target, zone) ? RCODE.NXDOMAIN : RCODE.NOERROR, chain, [zone.soa]);
      return { kind: 'chase', chain, target };
    }
    const found = next.rrsets.get(query.type);
    if (found) return reply(RCODE.NOERROR, [...chain, found]);
    current = next;
  }
  return reply(RCODE.NOERROR, chain, negative);
}

/** An address the cluster DNS gave for a name in the zone: under svc (a Service or its endpoints) or pod. */
export interface ClusterAddress {
  name: string;
  address: string;
  kind: 'service' | 'pod';
}

/** The A/AAAA records of a forwarded answer owned by names in `zone` (not CNAME targets outside it). */
export function clusterAddressesOf(message: DnsMessage, zone: string): ClusterAddress[] {
  const out: ClusterAddress[] = [];
  for (const rr of message.answers ?? []) {
    if ((rr.type !== 'A' && rr.type !== 'AAAA') || typeof rr.data !== 'string') continue;
    const name = normalizeName(rr.name);
    if (!inZone(name, zone)) continue;
    const kind = labelsAbove(name, zone).at(-1) === 'pod' ? 'pod' : 'service';
    out.push({ name, address: rr.data, kind });
  }
  return out;
}
