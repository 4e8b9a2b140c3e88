// The startup summary and the status document (`kvpn status --json`,
// schema 1) assembled from each component's facts and counters. Pure: the
// parts in, the document out.
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

export function buildSummary(p: SummaryParts): SessionSummary {
  return {
    id: p.paths.id,
    context: p.client.contextName,
    cluster: p.client.clusterName,
    server: p.client.server.origin,
    namespace: p.client.namespace,
    device: p.network?.device ?? '',
    routes: p.routes?.routed ?? [],
    excluded: p.routes?.excluded ?? [],
    dns: {
      mode: p.dns?.mode ?? 'off',
      server: p.dns && p.dns.mode !== 'off' ? (p.network?.dnsAddress ?? null) : null,
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
    routes: [...p.routes],
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
