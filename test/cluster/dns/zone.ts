// The cluster.local zone as CoreDNS's kubernetes plugin answers it, computed
// from Services and EndpointSlices: ClusterIP A records, headless A records
// (one per ready endpoint, plus hostnames), SRV for named ports, CNAME for
// ExternalName, PTR for ClusterIPs and endpoint IPs, dashed pod names.
import type { KObject } from '../apiserver/objects.js';

// biome-ignore lint/suspicious/noExplicitAny: API objects are JSON
type Json = any;

export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface RRSet {
  A?: string[];
  CNAME?: string;
  SRV?: SrvData[];
  PTR?: string[];
  TXT?: string[];
}

export interface ZoneFile {
  /** Zones this server is authoritative for (no trailing dot). */
  zones: string[];
  ttl: number;
  /** Answer for names outside every zone. */
  outside: 'SERVFAIL' | 'NXDOMAIN' | 'REFUSED';
  /** Wildcard A answers for "a-b-c-d.<ns>.pod.<domain>". */
  podNames?: boolean;
  records: Record<string, RRSet>;
}

function add(records: Record<string, RRSet>, name: string, f: (r: RRSet) => void): void {
  const key = name.toLowerCase();
  records[key] ??= {};
  f(records[key] as RRSet);
}

function reverse(ip: string): string {
  return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
}

export function clusterZone(services: KObject[], slices: KObject[], domain: string, ttl = 5): ZoneFile {
  const records: Record<string, RRSet> = {};
  for (const svc of services) {
    const ns = svc.metadata.namespace ?? '';
    const fqdn = `${svc.metadata.name}.${ns}.svc.${domain}`;
    if (svc.spec?.type === 'ExternalName') {
      add(records, fqdn, (r) => (r.CNAME = svc.spec.externalName.replace(/\.$/, '')));
      continue;
    }
    const mine = slices.filter(
      (s) => s.metadata.namespace === ns && s.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name,
    );
    const headless = svc.spec?.clusterIP === 'None';
    const eps: { ip: string; host: string }[] = [];
    for (const s of mine) {
      for (const ep of s.endpoints ?? []) {
        if (ep.conditions?.ready === false && !svc.spec?.publishNotReadyAddresses) continue;
        for (const ip of ep.addresses ?? []) eps.push({ ip, host: ep.hostname ?? ip.replace(/\./g, '-') });
      }
    }
    if (headless) {
      add(records, fqdn, (r) => (r.A = eps.map((e) => e.ip)));
      for (const e of eps) {
        add(records, `${e.host}.${fqdn}`, (r) => (r.A = [...(r.A ?? []), e.ip]));
        add(records, reverse(e.ip), (r) => (r.PTR = [...(r.PTR ?? []), `${e.host}.${fqdn}`]));
      }
    } else {
      add(records, fqdn, (r) => (r.A = [svc.spec.clusterIP]));
      add(records, reverse(svc.spec.clusterIP), (r) => (r.PTR = [...(r.PTR ?? []), fqdn]));
    }
    for (const p of (svc.spec?.ports ?? []) as Json[]) {
      if (!p.name) continue;
      const targets = headless ? eps.map((e) => `${e.host}.${fqdn}`) : [fqdn];
      const srv = targets.map((t) => ({
        priority: 0,
        weight: Math.floor(100 / Math.max(1, targets.length)),
        port: p.port,
        target: t,
      }));
      add(records, `_${p.name}._${String(p.protocol ?? 'TCP').toLowerCase()}.${fqdn}`, (r) => (r.SRV = srv));
      add(records, fqdn, (r) => (r.SRV = [...(r.SRV ?? []), ...srv]));
    }
  }
  return { zones: [domain, 'in-addr.arpa'], ttl, outside: 'SERVFAIL', podNames: true, records };
}
