// The shapes shared by the session, the daemon and the CLI: start options,
// progress steps, the startup summary and the status document. The status
// JSON (`kvpn status --json`) is a public interface: fields are only ever
// added, never renamed or removed, and `schema` changes if that must happen.
import type { InboundStats } from '../tunnel/inbound.js';
import type { MountedPath } from '../volumes/index.js';

export type DnsMode = 'auto' | 'resolved' | 'resolvconf' | 'off';

export interface SessionOptions {
  /** Kubeconfig path list (`:`-separated) as the session must load it (may start with the credential overlay). */
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
  stateDir: string;
  runtimeDir: string;
  /** CIDRs or host names (resolved in the cluster) to route as well. */
  alsoProxy: string[];
  /** CIDRs never routed into the TUN, even when discovered. */
  neverProxy: string[];
  relayImage?: string | undefined;
  dns: DnsMode;
  allowConflictingRoutes: boolean;
  /** TUN name; default: the first free kvpnN. */
  tunName?: string | undefined;
  mtu?: number | undefined;
  /** Named network namespace for the TUN, link and routes (in-process tests; the daemon runs inside it instead). */
  netns?: string | undefined;
  /** Resolver file for --dns resolvconf (default /etc/resolv.conf). */
  resolvConfPath?: string | undefined;
  /** Replace a resolv.conf symlink owned by another tool for the session (put back on down). */
  dnsReplaceSymlink?: boolean | undefined;
  /** The invoking user when started through sudo: owns the control socket. */
  owner?: { uid: number; gid: number } | undefined;
  /** No inspection page (`--no-ui`). */
  noUi?: boolean | undefined;
  /** The inspection page's first port to try (default 4040; the next ones if taken). */
  uiPort?: number | undefined;
  /** The tunnel's carrier: HTTP/2 or the mux (docs/design.md §5). */
  carrier?: 'h2' | 'mux' | undefined;
  /** Journal this process as the session's daemon (so `down` can stop it if it hangs). */
  journalProcess?: boolean;
}

export type StepName = 'kubeconfig' | 'relay' | 'cidrs' | 'tun' | 'dns' | 'verify';

export const STEP_TITLES: Record<StepName, string> = {
  kubeconfig: 'kubeconfig loaded',
  relay: 'relay ready',
  cidrs: 'CIDRs discovered',
  tun: 'TUN and routes up',
  dns: 'DNS configured',
  verify: 'first connection verified',
};

export interface ProgressEvent {
  step: StepName;
  /** One short line of detail: "context staging, namespace default". */
  detail: string;
  elapsedMs: number;
}

export interface RouteInfo {
  cidr: string;
  source: 'service' | 'pod' | 'also-proxy';
  /** Set in the summary and status (absent from a daemon of an older kvpn: read it from `cidr`). */
  family?: 4 | 6;
}

/** One family's side of the TUN's little network (src/session/tun-network.ts). */
export interface TunFamily {
  /** The laptop's address on the link, source of connections into the cluster. */
  address: string;
  /** The link's prefix, e.g. "198.18.0.0/30". */
  prefix: string;
  /** The in-TUN DNS server's address of this family (it answers there unless DNS is off). */
  dns: string;
}

export interface TunStatus {
  device: string;
  ipv4: TunFamily;
  /** null when this machine has IPv6 turned off (IPv6 cluster ranges are then not routed). */
  ipv6: TunFamily | null;
}

/**
 * Something that works less well because RBAC refused an optional read
 * (docs/rbac.md), with what kvpn does instead and the rule that restores it.
 */
export interface Degradation {
  /** What is degraded and what happens instead, one line. */
  what: string;
  /** The Role rule that would restore it, in the session's namespace. */
  restore: { verbs: string[]; resources: string[]; namespace: string };
}

export interface SessionSummary {
  id: string;
  context: string;
  cluster: string;
  server: string;
  namespace: string;
  device: string;
  /** The TUN's addresses per family (absent from a daemon of an older kvpn). */
  tun?: TunStatus | undefined;
  routes: RouteInfo[];
  excluded: { cidr: string; reason: string }[];
  dns: {
    mode: Exclude<DnsMode, 'auto'>;
    /** What the machine's resolver asks: the IPv4 DNS address (`tun.ipv6.dns` answers too). */
    server: string | null;
    /** As the cluster DNS named it; null with DNS off. */
    clusterDomain: string | null;
    searchDomains: string[];
  };
  relayPod: string;
  socket: string;
  logFile: string;
  pid: number;
  startupMs: number;
  /** Optional reads RBAC refused, and what that costs; [] with the optional Role of docs/rbac.md. */
  degradations: Degradation[];
  /** The inspection page (docs/ui.md): its address carries the session's secret. Absent with --no-ui. */
  ui?: { url: string; port: number } | undefined;
}

export interface DialErrorCounts {
  refused: number;
  unreachable: number;
  timeout: number;
  error: number;
}

export interface SessionStatus extends SessionSummary {
  schema: 1;
  state: 'running' | 'degraded' | 'stopping';
  startedAt: string;
  uptimeSeconds: number;
  relay: {
    pod: string;
    namespace: string;
    image: string;
    recreated: number;
    connected: boolean;
    /** The tunnel's carrier in use: h2 (tunnel protocol 1) or mux (2). */
    carrier?: 'h2' | 'mux';
  };
  cidrSources: { service: string; pod: string; notes: string[] };
  traffic: {
    tcpOpen: number;
    tcpTotal: number;
    udpFlows: number;
    udpTotal: number;
    bytesToCluster: number;
    bytesFromCluster: number;
    dialErrors: DialErrorCounts;
  };
  dnsStats: Record<string, number>;
  /** Problems seen while running, newest last (bounded). */
  warnings: string[];
  /** What `kvpn expose` made reachable from the cluster. */
  exposures: ExposureStatus[];
  /** What `kvpn intercept` sends here. */
  intercepts?: InterceptStatus[];
  mounts?: MountStatus[];
}

export interface MountStatus {
  /** Its name in this session (`kvpn unmount NAME`). */
  name: string;
  namespace: string;
  workload: string;
  pod: string;
  container: string;
  /** Where the mount paths appear: DIR/etc/config… */
  dir: string;
  /** The session's scratch directory for this mount (root's; `run --mount` mounts a tmpfs there). */
  workDir: string;
  paths: MountedPath[];
  skipped: { mountPath: string; why: string }[];
  /** The ephemeral container serving the pod's volumes, if any were asked for. */
  fileServer?: string | undefined;
  since: string;
  /** Why it no longer works (its pod went away…), if it doesn't. */
  problem?: string | undefined;
  /** Live updates of ConfigMap/Secret/downward API volumes. */
  updates: number;
  updateErrors: number;
}

export interface InterceptStatus {
  /** Its name in this session (`kvpn leave NAME`). */
  name: string;
  namespace: string;
  workload: string;
  service: string;
  servicePort: number;
  localPort: number;
  /** '' for a whole intercept, else its conditions (`x-dev=alice path^/api`). */
  filter: string;
  since: string;
  /** Registered with the router now (false while it reconnects: traffic goes to the pods meanwhile). */
  registered: boolean;
  /** The router's counts: requests (connections, for a whole intercept) sent here and to the pods. */
  routed: { toLaptop: number; toPods: number; failedOpen: number };
  connections: InboundStats;
}

export interface ExposureStatus {
  name: string;
  namespace: string;
  /** NAME.NAMESPACE.svc:PORT, what cluster clients use. */
  address: string;
  port: number;
  protocol: 'tcp' | 'udp';
  localPort: number;
  relayPort: number;
  since: string;
  connections: InboundStats;
}
