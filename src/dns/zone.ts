// The cluster zone as an immutable snapshot: every name Kubernetes DNS
// would serve for the Services, EndpointSlices and Pods we can see, with
// its records already encoded. Rebuilt from scratch on informer changes;
// answering a query is then one map lookup. Follows the Kubernetes DNS
// specification (github.com/kubernetes/dns, docs/specification.md):
//   <svc>.<ns>.svc.<zone>          A/AAAA ClusterIP, or ready endpoint IPs if headless
//   <host>.<svc>.<ns>.svc.<zone>   A/AAAA per headless endpoint (hostname, else dashed IP)
//   _<port>._<proto>.<svc>.<ns>.svc.<zone>  SRV for named ports
//   <svc>.<ns>.svc.<zone>          CNAME for ExternalName
//   <a-b-c-d>.<ns>.pod.<zone>      A/AAAA for pods
//   reverse names                  PTR for ClusterIPs, endpoints and pods
import { type EncodedRecords, encodeRecords, NO_RECORDS, type RecordSpec, TYPE } from './codec.js';
import { type EndpointSlice, type Pod, SERVICE_NAME_LABEL, type Service } from './kube-types.js';
import { ancestors, canonicalIp, dashedIp, inZone, normalizeName, reverseName } from './names.js';

/** TTL of every record we serve: low, so changes show up fast. */
export const RECORD_TTL_S = 5;

/** Namespaces whose objects we see completely: all of them, or a set. */
export type Scope = 'all' | ReadonlySet<string>;

export function scopeCovers(scope: Scope, namespace: string): boolean {
  return scope === 'all' || scope.has(namespace);
}

export interface ZoneInput {
  clusterDomain: string;
  services?: Iterable<Service>;
  endpointSlices?: Iterable<EndpointSlice>;
  pods?: Iterable<Pod>;
  /** Where Services and EndpointSlices are known completely (answer NXDOMAIN there). */
  serviceScope?: Scope;
  /** Where Pods are known completely. */
  podScope?: Scope;
  serial?: number;
}

export interface ZoneNode {
  /** Records by numeric type. */
  readonly rrsets: ReadonlyMap<number, EncodedRecords>;
  /** Every record of the name, for ANY. */
  readonly all: EncodedRecords;
  /** Alias target (normalized) when the name is an ExternalName CNAME. */
  readonly cname: string | undefined;
}

const TYPE_CODES: Record<RecordSpec['type'], number> = {
  A: TYPE.A,
  AAAA: TYPE.AAAA,
  CNAME: TYPE.CNAME,
  PTR: TYPE.PTR,
  NS: TYPE.NS,
  SRV: TYPE.SRV,
  SOA: TYPE.SOA,
};

export class ZoneSnapshot {
  readonly domain: string;
  readonly serial: number;
  readonly serviceScope: Scope;
  readonly podScope: Scope;
  /** The apex SOA, for the authority section of negative answers. */
  readonly soa: EncodedRecords;
  readonly #names: ReadonlyMap<string, ZoneNode>;
  readonly #shortNames: ReadonlySet<string>;

  constructor(
    init: Pick<ZoneSnapshot, 'domain' | 'serial' | 'serviceScope' | 'podScope' | 'soa'>,
    names: ReadonlyMap<string, ZoneNode>,
    shortNames: ReadonlySet<string>,
  ) {
    this.domain = init.domain;
    this.serial = init.serial;
    this.serviceScope = init.serviceScope;
    this.podScope = init.podScope;
    this.soa = init.soa;
    this.#names = names;
    this.#shortNames = shortNames;
  }

  /** The node of a normalized name (zone names and reverse names we own). */
  lookup(name: string): ZoneNode | undefined {
    return this.#names.get(name);
  }

  /** Every Service as `name.namespace` (for spotting a mistyped name). */
  get serviceNames(): ReadonlySet<string> {
    return this.#shortNames;
  }

  /** Number of names held. */
  get size(): number {
    return this.#names.size;
  }

  /**
   * True if `name` ends in `<svc>.<ns>` of a Service we know: a short name a
   * stub resolver tries as-is before its search list (ndots:1), which must
   * fail fast here rather than go to the Internet (".shop" is a real TLD).
   */
  isShortName(name: string): boolean {
    const last = name.lastIndexOf('.');
    if (last <= 0) return false;
    const prev = name.lastIndexOf('.', last - 1);
    return this.#shortNames.has(prev < 0 ? name : name.slice(prev + 1));
  }
}

class ZoneBuilder {
  readonly #zone: string;
  readonly #names = new Map<string, { specs: RecordSpec[]; seen: Set<string>; cname?: string }>();

  constructor(zone: string) {
    this.#zone = zone;
  }

  add(spec: RecordSpec): void {
    const node = this.ensure(spec.name);
    const key = `${spec.type} ${JSON.stringify(spec.data)}`;
    if (node.seen.has(key)) return;
    node.seen.add(key);
    node.specs.push(spec);
    if (spec.type === 'CNAME') node.cname = normalizeName(spec.data);
  }

  has(name: string, type: RecordSpec['type']): boolean {
    return this.#names.get(name)?.specs.some((s) => s.type === type) ?? false;
  }

  ensure(name: string): { specs: RecordSpec[]; seen: Set<string>; cname?: string } {
    let node = this.#names.get(name);
    if (!node) {
      node = { specs: [], seen: new Set() };
      this.#names.set(name, node);
      // Names between this one and the apex exist too (empty non-terminals: NODATA, not NXDOMAIN).
      if (inZone(name, this.#zone)) for (const parent of ancestors(name, this.#zone)) this.ensure(parent);
    }
    return node;
  }

  finish(): Map<string, ZoneNode> {
    const out = new Map<string, ZoneNode>();
    for (const [name, node] of this.#names) {
      const byType = new Map<number, RecordSpec[]>();
      for (const spec of node.specs) {
        const code = TYPE_CODES[spec.type];
        const list = byType.get(code) ?? [];
        byType.set(code, list);
        list.push(spec);
      }
      const rrsets = new Map<number, EncodedRecords>();
      for (const [code, specs] of byType) rrsets.set(code, encodeRecords(specs));
      out.set(name, { rrsets, all: node.specs.length ? encodeRecords(node.specs) : NO_RECORDS, cname: node.cname });
    }
    return out;
  }
}

export function buildZone(input: ZoneInput): ZoneSnapshot {
  const zone = normalizeName(input.clusterDomain);
  const ttl = RECORD_TTL_S;
  const serial = input.serial ?? 1;
  const serviceScope = input.serviceScope ?? 'all';
  const podScope = input.podScope ?? 'all';
  const b = new ZoneBuilder(zone);
  const shortNames = new Set<string>();

  const soaSpec: RecordSpec = {
    name: zone,
    type: 'SOA',
    ttl,
    data: {
      mname: `ns.dns.${zone}`,
      rname: `hostmaster.${zone}`,
      serial,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: ttl,
    },
  };
  b.add(soaSpec);
  b.add({ name: zone, type: 'NS', ttl, data: `ns.dns.${zone}` });
  b.ensure(`svc.${zone}`);
  b.ensure(`pod.${zone}`);

  const slicesByService = new Map<string, EndpointSlice[]>();
  for (const slice of input.endpointSlices ?? []) {
    const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    const ns = slice.metadata.namespace;
    if (!svc || !ns || !scopeCovers(serviceScope, ns)) continue;
    const key = `${ns}/${svc}`;
    const list = slicesByService.get(key) ?? [];
    slicesByService.set(key, list);
    list.push(slice);
  }

  const podPtrs: [string, string][] = [];
  for (const svc of input.services ?? []) {
    const ns = svc.metadata.namespace;
    if (!ns || !scopeCovers(serviceScope, ns)) continue;
    const name = svc.metadata.name.toLowerCase();
    const ns_ = ns.toLowerCase();
    const base = `${name}.${ns_}.svc.${zone}`;
    shortNames.add(`${name}.${ns_}`);
    b.ensure(base);
    const spec = svc.spec ?? {};
    if (spec.type === 'ExternalName') {
      const target = spec.externalName ? normalizeName(spec.externalName) : '';
      if (target) b.add({ name: base, type: 'CNAME', ttl, data: target });
      continue;
    }
    const ips = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter(Boolean);
    if (ips.length === 0) continue;
    if (ips[0] === 'None') {
      addHeadless(b, base, svc, slicesByService.get(`${ns}/${svc.metadata.name}`) ?? [], ttl);
      continue;
    }
    for (const raw of ips) {
      const ip = canonicalIp(raw);
      if (!ip) continue;
      b.add({ name: base, type: ip.includes(':') ? 'AAAA' : 'A', ttl, data: ip });
      const ptr = reverseName(ip);
      if (ptr) b.add({ name: ptr, type: 'PTR', ttl, data: base });
    }
    for (const port of spec.ports ?? []) {
      if (!port.name) continue;
      const proto = (port.protocol ?? 'TCP').toLowerCase();
      b.add({
        name: `_${port.name.toLowerCase()}._${proto}.${base}`,
        type: 'SRV',
        ttl,
        data: { priority: 0, weight: 100, port: port.port, target: base },
      });
    }
  }

  for (const pod of input.pods ?? []) {
    const ns = pod.metadata.namespace;
    if (!ns || !scopeCovers(podScope, ns) || pod.spec?.hostNetwork) continue;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    const ips = pod.status?.podIPs?.length
      ? pod.status.podIPs.map((p) => p.ip)
      : pod.status?.podIP
        ? [pod.status.podIP]
        : [];
    for (const raw of ips) {
      const ip = canonicalIp(raw);
      if (!ip) continue;
      const podName = `${dashedIp(ip)}.${ns.toLowerCase()}.pod.${zone}`;
      b.add({ name: podName, type: ip.includes(':') ? 'AAAA' : 'A', ttl, data: ip });
      const ptr = reverseName(ip);
      if (ptr) podPtrs.push([ptr, podName]);
    }
  }
  // A pod IP that is also a Service endpoint keeps its endpoint name.
  for (const [ptr, podName] of podPtrs) if (!b.has(ptr, 'PTR')) b.add({ name: ptr, type: 'PTR', ttl, data: podName });

  return new ZoneSnapshot(
    { domain: zone, serial, serviceScope, podScope, soa: encodeRecords([soaSpec]) },
    b.finish(),
    shortNames,
  );
}

function addHeadless(b: ZoneBuilder, base: string, svc: Service, slices: EndpointSlice[], ttl: number): void {
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const srv = new Map<string, { port: number; target: string }[]>();
  for (const slice of slices) {
    if (slice.addressType === 'FQDN') continue;
    for (const ep of slice.endpoints ?? []) {
      // A nil ready condition means "unknown": consumers treat it as ready.
      const ready = ep.conditions?.ready !== false;
      if (!ready && !publishNotReady) continue;
      for (const raw of ep.addresses ?? []) {
        const ip = canonicalIp(raw);
        if (!ip) continue;
        const type = ip.includes(':') ? 'AAAA' : 'A';
        const host = `${(ep.hostname ?? dashedIp(ip)).toLowerCase()}.${base}`;
        b.add({ name: base, type, ttl, data: ip });
        b.add({ name: host, type, ttl, data: ip });
        const ptr = reverseName(ip);
        if (ptr) b.add({ name: ptr, type: 'PTR', ttl, data: host });
        for (const port of slice.ports ?? []) {
          if (!port.name || port.port === undefined) continue;
          const name = `_${port.name.toLowerCase()}._${(port.protocol ?? 'TCP').toLowerCase()}.${base}`;
          const list = srv.get(name) ?? [];
          srv.set(name, list);
          if (!list.some((e) => e.port === port.port && e.target === host))
            list.push({ port: port.port, target: host });
        }
      }
    }
  }
  for (const [name, targets] of srv) {
    const weight = Math.max(1, Math.floor(100 / targets.length));
    for (const t of targets)
      b.add({ name, type: 'SRV', ttl, data: { priority: 0, weight, port: t.port, target: t.target } });
  }
}
