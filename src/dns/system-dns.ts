// How the machine's resolver is pointed at kvpn's DNS server, portably.
// Linux: systemd-resolved (per-link DNS + routing domains) when it is in
// use, else /etc/resolv.conf replaced with a backup (system-dns-linux.ts).
// macOS: /etc/resolver/<domain> files — not implemented yet, behind the
// same interface (system-dns-darwin.ts). Every change is recorded in a
// state file before it is made, so a crashed session's leftovers are
// found and undone by the next apply(), restore() or repairLeftovers().
import type { Endpoint } from '../tun/stack/index.js';
import { createDarwinSystemDns } from './system-dns-darwin.js';
import { LinuxSystemDns } from './system-dns-linux.js';
import { UnsupportedSystemDns } from './system-dns-unsupported.js';

export type SystemDnsMode = 'resolved' | 'resolv.conf';

export interface SystemDnsOptions {
  /** kvpn's state directory; the backup and the DNS state file live here. */
  stateDir: string;
  /** Default /etc/resolv.conf (tests: /etc/netns/<ns>/resolv.conf or a temp file). */
  resolvConfPath?: string;
  /** 'auto' (default) picks systemd-resolved when it is running and in use. */
  mode?: 'auto' | SystemDnsMode;
  /** systemd-resolved's stub file, whose presence says resolved runs. */
  stubResolvConfPath?: string;
  /** The resolvectl command (default "resolvectl", from PATH). */
  resolvectl?: string;
  /** Replace a resolv.conf symlink owned by another tool (put back on restore). Default false. */
  replaceSymlink?: boolean;
  /** The process that owns the change (the daemon); default this process. */
  ownerPid?: number;
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
  /** Which mode apply() would use here. */
  detect(): Promise<SystemDnsMode>;
  /** Points the resolver at our server (repairing leftovers first). */
  apply(config: SystemDnsConfig): Promise<AppliedDns>;
  /** Undoes apply(); idempotent. */
  restore(): Promise<RestoreResult>;
  /** Undoes what a dead session left behind; refuses (KVPN_ERR_DNS_BUSY) if its owner still runs. */
  repairLeftovers(): Promise<RestoreResult>;
}

export function createSystemDns(options: SystemDnsOptions, platform: NodeJS.Platform = process.platform): SystemDns {
  if (platform === 'linux') return new LinuxSystemDns(options);
  if (platform === 'darwin') return createDarwinSystemDns();
  return new UnsupportedSystemDns(
    `configuring DNS on ${platform} is not supported`,
    'Run kvpn on Linux (macOS support is planned).',
  );
}
