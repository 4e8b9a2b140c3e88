// The startup summary and the status document (`kvpn status --json`,
// schema 1) assembled from each component's facts and counters. Pure: the
// parts in, the document out. Both IP families are shown side by side: the
// TUN's and the DNS server's addresses (`tun`) and each route's `family`;
// fields are only added (src/session/types.ts).
import type { SessionPaths } from '../host/paths.js';
import type { KubeClient } from '../kube/client.js';
import type { Ranges } from './discovery.js';
import type { DnsSetup } from './dns-setup.js';
import type { RelaySetup } from './relay-setup.js';
import type { SessionRoutes } from './session-routes.js';
import type { StackSetup } from './stack-setup.js';
import type { TunNetwork } from './tun-network.js';
import type {
  Degradation,
  ExposureStatus,
  InterceptStatus,
  MountStatus,
  RouteInfo,
  SessionStatus,
  SessionSummary,
  TunStatus,
} from './types.js';

export interface SummaryParts {
  paths: SessionPaths;
  client: KubeClient;
  network: TunNetwork | undefined;
  routes: SessionRoutes | undefined;
  dns: DnsSetup | undefined;
  relay: RelaySetup | undefined;
  startedAt: number;
  now: number;
  pid: number;
  degradations: Degradation[];
  ui?: { url: string; port: number } | undefined;
}

/** Each route with its family, for readers that list them per family. */
export function withFamily(routes: readonly RouteInfo[]): RouteInfo[] {
  return routes.map((r) => ({ ...r, family: r.cidr.includes(':') ? 6 : 4 }));
}

/** The TUN's addresses per family; IPv6 null when the link could not have it. */
export function tunStatus(network: TunNetwork, ipv6: boolean): TunStatus {
  return {
    device: network.device,
    ipv4: { address: network.localAddress, prefix: network.subnet, dns: network.dnsAddress },
    ipv6: ipv6 ? { address: network.localAddress6, prefix: network.subnet6, dns: network.dnsAddress6 } : null,
  };
}

export function buildSummary(p: SummaryParts): SessionSummary {
  const dnsOn = p.dns !== undefined && p.dns.mode !== 'off';
  const ipv6 = p.routes?.ipv6 ?? true;
  const tun = p.network ? tunStatus(p.network, ipv6) : undefined;
  return {
    id: p.paths.id,
    context: p.client.contextName,
    cluster: p.client.clusterName,
    server: p.client.server.origin,
    namespace: p.client.namespace,
    device: p.network?.device ?? '',
    ...(tun ? { tun } : {}),
    routes: withFamily(p.routes?.routed ?? []),
    excluded: p.routes?.excluded ?? [],
    dns: {
      mode: p.dns?.mode ?? 'off',
      server: dnsOn ? (p.network?.dnsAddress ?? null) : null,
      clusterDomain: p.dns?.clusterDomain ?? null,
      searchDomains: p.dns?.searchDomains ?? [],
    },
    relayPod: p.relay?.podName ?? '',
    socket: p.paths.socket,
    logFile: p.paths.logFile,
    pid: p.pid,
    startupMs: p.now - p.startedAt,
    degradations: p.degradations,
    ...(p.ui ? { ui: p.ui } : {}),
  };
}

export interface StatusParts {
  summary: SessionSummary;
  routes: RouteInfo[];
  startedAt: number;
  now: number;
  closing: boolean;
  relay: RelaySetup | undefined;
  stack: StackSetup | undefined;
  dns: DnsSetup | undefined;
  ranges: Ranges | undefined;
  warnings: string[];
  degradations: Degradation[];
  exposures: ExposureStatus[];
  intercepts: InterceptStatus[];
  mounts: MountStatus[];
}

export function buildStatus(p: StatusParts): SessionStatus {
  const stack = p.stack?.stats();
  const tunnel = p.relay?.dialer.stats;
  const connected = p.relay?.dialer.state === 'up';
  return {
    schema: 1,
    ...p.summary,
    routes: withFamily(p.routes),
    relayPod: p.relay?.podName ?? p.summary.relayPod,
    state: p.closing ? 'stopping' : connected ? 'running' : 'degraded',
    startedAt: new Date(p.startedAt).toISOString(),
    uptimeSeconds: Math.round((p.now - p.startedAt) / 1000),
    relay: {
      pod: p.relay?.podName ?? '',
      namespace: p.summary.namespace,
      image: p.relay?.image ?? '',
      recreated: p.relay?.recreated ?? 0,
      connected,
      carrier: p.relay?.dialer.carrierKind ?? 'h2',
    },
    cidrSources: {
      service: p.ranges?.service.source ?? 'none',
      pod: p.ranges?.pod.source ?? 'none',
      notes: [...(p.ranges?.service.notes ?? []), ...(p.ranges?.pod.notes ?? [])],
    },
    traffic: {
      tcpOpen: stack?.tcpOpen ?? 0,
      tcpTotal: stack?.tcpTotal ?? 0,
      udpFlows: stack?.udpOpen ?? 0,
      udpTotal: stack?.udpTotal ?? 0,
      bytesToCluster: tunnel?.bytesSent ?? 0,
      bytesFromCluster: tunnel?.bytesReceived ?? 0,
      dialErrors: { ...(tunnel?.dialErrors ?? { refused: 0, unreachable: 0, timeout: 0, error: 0 }) },
    },
    dnsStats: p.dns?.stats() ?? {},
    warnings: [...p.warnings],
    degradations: p.degradations,
    exposures: p.exposures,
    intercepts: p.intercepts,
    mounts: p.mounts,
  };
}
