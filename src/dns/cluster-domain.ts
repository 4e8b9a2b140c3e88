// Finding the cluster domain (cluster.local by default; a cluster may use
// another, e.g. "corp.internal"). The cluster DNS knows it: the PTR of a
// Service ClusterIP is <svc>.<ns>.svc.<domain>. The kubernetes Service
// always takes the first address of the service range, and the cluster
// DNS has a ClusterIP of its own, so asking for the PTR of those (through
// the tunnel) needs no API rights at all. CoreDNS's default Corefile
// (`kubernetes cluster.local in-addr.arpa ip6.arpa`) and kube-dns answer it.
import { decodeMessage, encodeQuestion, TYPE } from './codec.js';
import { normalizeName, reverseName } from './names.js';
import type { Forwarder } from './tcp-forwarder.js';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

/**
 * Asks the cluster DNS for the PTR of every address at once (so an
 * unreachable cluster DNS costs one forward timeout, not one per address);
 * the first address, in the order given, whose answer has the form
 * <svc>.<ns>.svc.<domain> gives the domain. Undefined if none does.
 */
export async function detectClusterDomain(forwarder: Forwarder, serviceIps: string[]): Promise<string | undefined> {
  const found = await Promise.all(serviceIps.map((ip) => domainFromPtr(forwarder, ip)));
  return found.find((domain) => domain !== undefined);
}

async function domainFromPtr(forwarder: Forwarder, ip: string): Promise<string | undefined> {
  const name = reverseName(ip);
  if (!name) return undefined;
  let answer: Uint8Array;
  try {
    answer = await forwarder.query(encodeQuestion(name, TYPE.PTR));
  } catch {
    return undefined;
  }
  for (const rr of decodeMessage(answer)?.answers ?? []) {
    if (rr.type !== 'PTR') continue;
    const m = /^[^.]+\.[^.]+\.svc\.(.+)$/.exec(normalizeName(String(rr.data)));
    if (m?.[1]) return m[1];
  }
  return undefined;
}
