// What IPv4 (RFC 791) and IPv6 (RFC 8200) share: the version nibble that
// tells them apart, and IANA's protocol-number registry, which fills both
// the IPv4 protocol field and the IPv6 next-header field. Every protocol
// number in kvpn comes from this table.

export const IpProtocol = {
  /** IPv6 hop-by-hop options (an extension header). */
  HopByHop: 0,
  Icmp: 1,
  Tcp: 6,
  Udp: 17,
  /** IPv6 extension headers. */
  Ipv6Routing: 43,
  Ipv6Fragment: 44,
  Icmpv6: 58,
  Ipv6DestOptions: 60,
} as const;
export type IpProtocol = (typeof IpProtocol)[keyof typeof IpProtocol];

/** 4 or 6 for a packet of that version; any other value (0 for no bytes) is not IP. */
export function ipVersion(packet: Uint8Array): number {
  return packet.length > 0 ? (packet[0] as number) >>> 4 : 0;
}
