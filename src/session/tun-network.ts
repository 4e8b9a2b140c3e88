// The TUN's own little network. Session N gets device kvpnN and the /30
// 198.18.N.0 from the benchmarking range (RFC 2544, never routed on the
// Internet or used by clusters): .1 is the laptop's address on the link
// (source of every connection into the cluster), .2 is the in-TUN DNS
// server. The kernel's prefix route for the /30 sends DNS queries into the
// TUN, where the stack hands them to our DNS server.
import { formatIpNumber, parseIpNumber } from '../net/ip.js';

export const DEVICE_PREFIX = 'kvpn';
export const MAX_SESSIONS = 64;
const BASE = parseIpNumber('198.18.0.0').value;

export interface TunNetwork {
  device: string;
  index: number;
  /** "198.18.N.1/30", set on the link. */
  linkAddress: string;
  localAddress: string;
  dnsAddress: string;
}

export function tunNetwork(index: number, device = `${DEVICE_PREFIX}${index}`): TunNetwork {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SESSIONS) throw new RangeError(`session index ${index}`);
  const net = BASE + BigInt(index) * 256n;
  return {
    device,
    index,
    linkAddress: `${formatIpNumber(4, net + 1n)}/30`,
    localAddress: formatIpNumber(4, net + 1n),
    dnsAddress: formatIpNumber(4, net + 2n),
  };
}

/** Candidates in order: an explicit name (index from its digits or 0), else kvpn0…kvpn63. */
export function* candidateNetworks(explicit?: string): Generator<TunNetwork> {
  if (explicit) {
    const digits = /(\d+)$/.exec(explicit)?.[1];
    const start = digits ? Number(digits) % MAX_SESSIONS : 0;
    for (let i = 0; i < MAX_SESSIONS; i++) yield tunNetwork((start + i) % MAX_SESSIONS, explicit);
    return;
  }
  for (let i = 0; i < MAX_SESSIONS; i++) yield tunNetwork(i);
}
