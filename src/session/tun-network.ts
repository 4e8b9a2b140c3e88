// The TUN's own little network. Session N gets device kvpnN and two tiny
// point-to-point networks on it, one per family:
//   IPv4 198.18.N.0/30, from the benchmarking range (RFC 2544, never routed
//        on the Internet or used by clusters);
//   IPv6 fdc7:6b76:706e:N::/126, in a fixed ULA /48 of ours (RFC 4193;
//        "6b76:706e" spells "kvpn").
// In both, ::1 / .1 is the laptop's address on the link (the kernel's
// source for connections into the cluster of that family) and ::2 / .2 is
// the in-TUN DNS server. The kernel's prefix routes for the /30 and /126
// send DNS queries into the TUN, where the stack hands them to our server.
// The system resolver is pointed at the IPv4 one (every TUN has IPv4); the
// IPv6 one answers too, for clients that ask it directly.
import { formatIp, formatIpNumber, parseIp, parseIpNumber } from '../net/ip.js';

export const DEVICE_PREFIX = 'kvpn';
export const MAX_SESSIONS = 64;
const BASE = parseIpNumber('198.18.0.0').value;
const BASE6 = parseIpNumber('fdc7:6b76:706e::').value;
/** Session N's /126 sits in the /64 fdc7:6b76:706e:N::. */
const SUBNET6_SHIFT = 64n;

export interface TunNetwork {
  device: string;
  index: number;
  /** "198.18.N.1/30", set on the link. */
  linkAddress: string;
  /** "198.18.N.0/30": the kernel's prefix route for the link. */
  subnet: string;
  localAddress: string;
  dnsAddress: string;
  /** "fdc7:6b76:706e:N::1/126", set on the link (when the machine has IPv6). */
  linkAddress6: string;
  /** "fdc7:6b76:706e:N::/126". */
  subnet6: string;
  localAddress6: string;
  dnsAddress6: string;
}

export function tunNetwork(index: number, device = `${DEVICE_PREFIX}${index}`): TunNetwork {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SESSIONS) throw new RangeError(`session index ${index}`);
  const net = BASE + BigInt(index) * 256n;
  const net6 = BASE6 + (BigInt(index) << SUBNET6_SHIFT);
  return {
    device,
    index,
    linkAddress: `${formatIpNumber(4, net + 1n)}/30`,
    subnet: `${formatIpNumber(4, net)}/30`,
    localAddress: formatIpNumber(4, net + 1n),
    dnsAddress: formatIpNumber(4, net + 2n),
    linkAddress6: `${formatIpNumber(6, net6 + 1n)}/126`,
    subnet6: `${formatIpNumber(6, net6)}/126`,
    localAddress6: formatIpNumber(6, net6 + 1n),
    dnsAddress6: formatIpNumber(6, net6 + 2n),
  };
}

/** The in-TUN DNS server's addresses, IPv4 first. */
export function dnsAddresses(network: TunNetwork): string[] {
  return [network.dnsAddress, network.dnsAddress6];
}

/** Whether an address (any spelling) is one of the in-TUN DNS server's. */
export function isDnsAddress(network: TunNetwork): (address: string) => boolean {
  const ours = new Set(dnsAddresses(network));
  // Asked on every dial; parsing each time was ~10 µs of it. A few recent answers are kept.
  const recent = new Map<string, boolean>();
  return (address) => {
    let answer = recent.get(address);
    if (answer === undefined) {
      const bytes = parseIp(address);
      answer = bytes !== null && ours.has(formatIp(bytes));
      if (recent.size >= 256) recent.clear();
      recent.set(address, answer);
    }
    return answer;
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
