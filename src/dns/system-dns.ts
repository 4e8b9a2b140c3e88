// How the machine's resolver is pointed at kvpn's DNS server, portably.
// Linux: systemd-resolved (per-link DNS + routing domains) when it is in
// use, else /etc/resolv.conf replaced with a backup (system-dns-linux.ts).
// macOS: /etc/resolver/<domain> files — not implemented yet, behind the
// same interface (system-dns-darwin.ts). SystemDns keeps no record of who
// changed what: record() says what undoing apply() takes, the caller stores
// it durably before apply() (kvpn: the session journal, which alone decides
// whether the session that made the change is still alive) and hands it to
// restore() — from the live session or after a crash.
import type { Endpoint } from '../tun/stack/index.js';
import { createDarwinSystemDns } from './system-dns-darwin.js';
import { LinuxSystemDns } from './system-dns-linux.js';
import { UnsupportedSystemDns } from './system-dns-unsupported.js';

export type SystemDnsMode = 'resolved' | 'resolvconf';

export interface SystemDnsOptions {
  /**
   * Where the resolv.conf backup is kept. One directory per owner, never
   * shared by two live ones (kvpn: one per session, under the session lock).
   */
  stateDir: string;
  /** Default /etc/resolv.conf (tests: /etc/netns/<ns>/resolv.conf or a temp file). */
  resolvConfPath?: string;
  /** 'auto' (default) picks systemd-resolved when it is running and in use (decided once, then kept). */
  mode?: 'auto' | SystemDnsMode;
  /** systemd-resolved's stub file, whose presence says resolved runs. */
  stubResolvConfPath?: string;
  /** The resolvectl command (default "resolvectl", from PATH). */
  resolvectl?: string;
  /** Replace a resolv.conf symlink owned by another tool (put back on restore). Default false. */
  replaceSymlink?: boolean;
}

/**
 * What undoing apply() takes, known before apply() changes anything. The
 * field names are those of the session journal's `dns` entry, which is
 * this record.
 */
export interface ResolverRecord {
  mode: SystemDnsMode;
  /** The link whose systemd-resolved settings are reverted (resolved mode). */
  device: string;
  /** The stateDir the change was made with: the resolv.conf backup is there. */
  dnsStateDir: string;
  resolvConfPath: string;
}

export interface SystemDnsConfig {
  /** kvpn's DNS server address (inside the TUN network), port 53. */
  serverAddress: string;
  /** The TUN link (systemd-resolved per-link settings). */
  linkName: string;
  clusterDomain: string;
  /** Search domains of the connected namespace (namespaceSearchDomains). */
  searchDomains: string[];
  /** Routing-only domains besides ~<clusterDomain>, e.g. reverse zones of the cluster CIDRs. */
  routingDomains?: string[];
}

export interface AppliedDns {
  mode: SystemDnsMode;
  /** The original servers: where names outside the cluster must go (resolv.conf mode; [] otherwise). */
  upstreams: Endpoint[];
  /** Things the user should know (a leftover repaired, NetworkManager may rewrite the file…). */
  notes: string[];
}

export interface RestoreResult {
  /** False when there was nothing to undo. */
  restored: boolean;
  notes: string[];
}

export interface SystemDns {
  /** Which mode apply() uses here. */
  detect(): Promise<SystemDnsMode>;
  /** What restore() needs to undo apply() on `linkName`: store it before calling apply(). */
  record(linkName: string): Promise<ResolverRecord>;
  /** Points the resolver at our server (first undoing a leftover backup in stateDir). */
  apply(config: SystemDnsConfig): Promise<AppliedDns>;
  /** Undoes what `record` describes — this session's apply() or a crashed one's; idempotent. */
  restore(record: ResolverRecord): Promise<RestoreResult>;
}

export function createSystemDns(options: SystemDnsOptions, platform: NodeJS.Platform = process.platform): SystemDns {
  if (platform === 'linux') return new LinuxSystemDns(options);
  if (platform === 'darwin') return createDarwinSystemDns();
  return new UnsupportedSystemDns(
    `configuring DNS on ${platform} is not supported`,
    'Run kvpn on Linux (macOS support is planned).',
  );
}
