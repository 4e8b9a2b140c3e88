// Finding the cluster domain (default cluster.local; clusters may use
// another, e.g. "k8s.corp"). The cluster DNS knows it: the PTR of a
// Service ClusterIP is <svc>.<ns>.svc.<domain>. The kubernetes.default
// Service always takes the first address of the service range, so asking
// for the PTR of that address (through the tunnel) needs no API rights.
// A pod's resolv.conf says it too (clusterDnsFromPodResolvConf).
import { decodeMessage, encodeQuestion, TYPE } from './codec.js';
import { normalizeName, reverseName } from './names.js';
import type { Forwarder } from './tcp-forwarder.js';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

/**
 * Asks the cluster DNS for the PTR of each address in turn (e.g. the first
 * address of each service CIDR); the first answer of the form
 * <svc>.<ns>.svc.<domain> gives the domain. Undefined if none does.
 */
export async function detectClusterDomain(forwarder: Forwarder, serviceIps: string[]): Promise<string | undefined> {
  for (const ip of serviceIps) {
    const name = reverseName(ip);
    if (!name) continue;
    let answer: Uint8Array;
    try {
      answer = await forwarder.query(encodeQuestion(name, TYPE.PTR));
    } catch {
      continue;
    }
    for (const rr of decodeMessage(answer)?.answers ?? []) {
      if (rr.type !== 'PTR') continue;
      const m = /^[^.]+\.[^.]+\.svc\.(.+)$/.exec(normalizeName(String(rr.data)));
      if (m?.[1]) return m[1];
    }
  }
  return undefined;
}
