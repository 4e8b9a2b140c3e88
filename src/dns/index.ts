// kvpn's DNS. Data flow:
//
//   Kubernetes API ──informers──► ClusterRecords ──buildZone──► ZoneSnapshot (names → encoded records)
//                                                                     │
//   app ─► resolver ─► TUN ─► stack ─► createDnsDialer ─► DnsServer.handle
//        (systemd-resolved per-link, or resolv.conf: SystemDns)       │ parseQuery (codec) → decide (answer)
//                                                                     ├─► reply from the zone (buildResponse)
//                                                                     ├─► cluster DNS: DnsTcpForwarder over the Dialer (tunnel)
//                                                                     └─► original upstreams: UdpForwarder (resolv.conf mode)
//
// Addresses the cluster DNS answers for zone names are shown to the session
// (onClusterAddresses) before the reply leaves: it routes ranges it lacks.
// The zone's domain comes first: detectClusterDomain asks the cluster DNS,
// through the same forwarder, for the PTR of the kubernetes Service.
// Local answers are never limited; forwards are bounded in flight (server).
//
// The answering core (codec, zone, answer, response) is pure and
// synchronous; sockets, timers and files live in server, tcp-connection, the
// forwarders, cluster-records and system-dns-*.

export type { ClusterAddress } from './answer.js';
export { DEFAULT_CLUSTER_DOMAIN, detectClusterDomain } from './cluster-domain.js';
export { type ClusterForwarderOptions, createClusterForwarder } from './cluster-forwarder.js';
export { ClusterRecords, type ClusterRecordsOptions } from './cluster-records.js';
export { createDnsDialer } from './dns-dialer.js';
export { ForwardError, SystemDnsError } from './errors.js';
export {
  type AddressOwner,
  editDistance,
  likelyMeant,
  ownerOf,
  type ResponseView,
  rcodeName,
  typeName,
  viewResponse,
} from './inspect.js';
export { reverseZonesOf } from './names.js';
export { namespaceSearchDomains, parseResolvConf } from './resolv-conf.js';
export {
  createSessionDnsServer,
  type DnsQueryEvent,
  DnsServer,
  type DnsServerOptions,
  type DnsStats,
  type RecordSource,
} from './server.js';
export {
  type AppliedDns,
  createSystemDns,
  type ResolverRecord,
  type RestoreResult,
  type SystemDns,
  type SystemDnsConfig,
  type SystemDnsMode,
  type SystemDnsOptions,
} from './system-dns.js';
export { DnsTcpForwarder, type Forwarder } from './tcp-forwarder.js';
export { UdpForwarder } from './udp-forwarder.js';
export { buildZone, type ZoneSnapshot } from './zone.js';
