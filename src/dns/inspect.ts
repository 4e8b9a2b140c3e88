// What the inspection page (src/inspect) asks of DNS: the answers of a
// response as text, who an address belongs to (the zone's PTR names), and
// which Service a name that does not exist was probably meant to be.
// Display only: nothing here throws, whatever the bytes.
import { decodeMessage, TYPE } from './codec.js';
import { inZone, labelsAbove, reverseName } from './names.js';
import type { ZoneSnapshot } from './zone.js';

export interface ResponseView {
  rcode: number;
  /** One line per answer record: `A 10.96.0.12`, `CNAME web.shop.svc.cluster.local`. */
  answers: string[];
  /** The A and AAAA addresses among them. */
  addresses: string[];
}

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([name, code]) => [code, name]));

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/** The rcode and answers of a response; undefined if it does not decode. */
export function viewResponse(response: Uint8Array): ResponseView | undefined {
  if (response.length < 12) return undefined;
  const message = decodeMessage(response);
  if (!message) return undefined;
  const answers: string[] = [];
  const addresses: string[] = [];
  for (const rr of message.answers ?? []) {
    if (rr.type === 'OPT') continue;
    const data = (rr as { data?: unknown }).data;
    if ((rr.type === 'A' || rr.type === 'AAAA') && typeof data === 'string') addresses.push(data);
    answers.push(`${rr.type} ${formatData(data)}`);
  }
  return { rcode: (response[3] ?? 0) & 0xf, answers, addresses };
}

function formatData(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data && typeof data === 'object') {
    const srv = data as { priority?: number; weight?: number; port?: number; target?: string };
    if (srv.target !== undefined) return `${srv.priority ?? 0} ${srv.weight ?? 0} ${srv.port ?? 0} ${srv.target}`;
  }
  return JSON.stringify(data) ?? '';
}

export interface AddressOwner {
  kind: 'service' | 'endpoint' | 'pod';
  /** The Service's name (service, endpoint); the dashed address for a pod. */
  name: string;
  namespace: string;
}

/** Whose address `ip` is, as the zone's PTR record names it; undefined if the zone does not know. */
export function ownerOf(zone: ZoneSnapshot, ip: string): AddressOwner | undefined {
  const reverse = reverseName(ip);
  const records = reverse ? zone.lookup(reverse)?.rrsets.get(TYPE.PTR) : undefined;
  if (!records || records.count === 0) return undefined;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0x8000, 2);
  header.writeUInt16BE(records.count, 6);
  const target = decodeMessage(Buffer.concat([header, records.bytes]))?.answers?.[0] as { data?: unknown } | undefined;
  const name = typeof target?.data === 'string' ? target.data.toLowerCase() : undefined;
  if (!name || !inZone(name, zone.domain)) return undefined;
  const labels = labelsAbove(name, zone.domain);
  // name.ns.svc | host.name.ns.svc | dashed.ns.pod
  if (labels.length === 3 && labels[2] === 'svc')
    return { kind: 'service', name: labels[0] ?? '', namespace: labels[1] ?? '' };
  if (labels.length === 4 && labels[3] === 'svc')
    return { kind: 'endpoint', name: labels[1] ?? '', namespace: labels[2] ?? '' };
  if (labels.length === 3 && labels[2] === 'pod')
    return { kind: 'pod', name: labels[0] ?? '', namespace: labels[1] ?? '' };
  return undefined;
}

/**
 * For a name that does not exist, the Service (`name.namespace`) it is one or
 * two typed characters away from, if exactly one is; else undefined.
 * `searchNamespace`: the namespace a short name (`wbe`) would be searched in.
 */
export function likelyMeant(zone: ZoneSnapshot, queried: string, searchNamespace: string): string | undefined {
  const wanted = serviceOf(queried, zone.domain, searchNamespace);
  if (!wanted || zone.serviceNames.has(wanted)) return undefined;
  let best: string | undefined;
  let bestDistance = 3;
  let ties = 0;
  for (const known of zone.serviceNames) {
    if (Math.abs(known.length - wanted.length) >= bestDistance) continue;
    const d = editDistance(wanted, known, bestDistance);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
      ties = 0;
    } else if (d === bestDistance) ties++;
  }
  return best && ties === 0 ? best : undefined;
}

/** `svc.ns` of a queried name: `svc.ns.svc.<zone>`, `svc.ns.svc`, `svc.ns`, or `svc` in the search namespace. */
function serviceOf(name: string, domain: string, searchNamespace: string): string | undefined {
  let labels: string[];
  if (inZone(name, domain) && name !== domain) labels = labelsAbove(name, domain);
  else labels = name.split('.');
  if (labels.at(-1) === 'svc') labels = labels.slice(0, -1);
  if (labels.length === 1 && labels[0]) return `${labels[0]}.${searchNamespace}`;
  if (labels.length === 2) return labels.join('.');
  return undefined;
}

/**
 * Edits between two names (insert, delete, replace, swap two neighbours: the
 * typist's mistakes), or `limit` as soon as it must be at least that.
 */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, (before[j - 2] ?? 0) + 1);
      current.push(value);
      if (value < rowMin) rowMin = value;
    }
    if (rowMin >= limit) return limit;
    before = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}
