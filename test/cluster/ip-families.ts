// A world's IP families and the address plan each implies, chosen at
// `npm run cluster -- up --real --ip-family ipv4|dual|ipv6`. IPv4 keeps the
// plan every suite was written for; dual-stack adds IPv6 next to it (IPv4
// primary, as most dual-stack clusters are); IPv6-only has no IPv4 inside
// the cluster at all. The laptop keeps reaching the API server over IPv4
// in every plan (a laptop on an IPv4 network talking to a cluster's public
// endpoint); it also has an IPv6 address on the same link.
import { DNS_SERVICE_IP, KUBERNETES_SERVICE_IP, NODE_NET_PREFIX, POD_CIDR, SERVICE_CIDR } from './world-config.js';

export type IpFamilies = 'ipv4' | 'dual' | 'ipv6';
export const IP_FAMILIES: readonly IpFamilies[] = ['ipv4', 'dual', 'ipv6'];

export function isIpFamilies(s: string): s is IpFamilies {
  return (IP_FAMILIES as readonly string[]).includes(s);
}

/** Documentation-free ULA ranges (RFC 4193), as kind's IPv6 defaults. */
export const SERVICE_CIDR_V6 = 'fd00:10:96::/112';
export const POD_CIDR_V6 = 'fd00:10:244::/56';
export const KUBERNETES_SERVICE_IP_V6 = 'fd00:10:96::1';
export const DNS_SERVICE_IP_V6 = 'fd00:10:96::a';
/** The laptop–node link's IPv6 /64: laptop ::1, node ::2. */
export const NODE_NET_V6 = 'fd00:172:18::';

export interface Addressing {
  families: IpFamilies;
  /** Service ranges, primary family first (the API server's --service-cluster-ip-range). */
  serviceCidrs: string[];
  podCidrs: string[];
  /** The first node's pod ranges (what the controller-manager allocates it first). */
  nodePodCidrs: string[];
  kubernetesServiceIp: string;
  dnsServiceIp: string;
  /** The node's addresses on the laptop link, primary family first (kubelet --node-ip). */
  nodeIps: string[];
}

export function addressing(families: IpFamilies): Addressing {
  const v4 = {
    serviceCidrs: [SERVICE_CIDR],
    podCidrs: [POD_CIDR],
    nodePodCidrs: ['10.244.0.0/24'],
    nodeIps: [`${NODE_NET_PREFIX}.2`],
  };
  const v6 = {
    serviceCidrs: [SERVICE_CIDR_V6],
    podCidrs: [POD_CIDR_V6],
    nodePodCidrs: ['fd00:10:244::/64'],
    nodeIps: [`${NODE_NET_V6}2`],
  };
  const parts = families === 'ipv4' ? [v4] : families === 'ipv6' ? [v6] : [v4, v6];
  return {
    families,
    serviceCidrs: parts.flatMap((p) => p.serviceCidrs),
    podCidrs: parts.flatMap((p) => p.podCidrs),
    nodePodCidrs: parts.flatMap((p) => p.nodePodCidrs),
    nodeIps: parts.flatMap((p) => p.nodeIps),
    kubernetesServiceIp: families === 'ipv6' ? KUBERNETES_SERVICE_IP_V6 : KUBERNETES_SERVICE_IP,
    dnsServiceIp: families === 'ipv6' ? DNS_SERVICE_IP_V6 : DNS_SERVICE_IP,
  };
}

/** The gateway (first address) of a pod range, as the CNI bridge takes it: 10.244.0.1, fd00:10:244::1. */
export function gatewayOf(cidr: string): string {
  const base = cidr.split('/')[0] as string;
  return base.includes(':') ? `${base}1` : base.replace(/\.0$/, '.1');
}
