// The machine's resolver, through the DNS module's SystemDns: pick the mode,
// journal the change, point the resolver at the in-TUN server, and put it
// back — from the live session (restore) or after a crash (repairLeftovers,
// from the state SystemDns keeps in its own directory). That directory sits
// outside the session directory so a resolver backup kept aside ("changed by
// another program", see SystemDns) survives the session's cleanup.
import { rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { type AppliedDns, createSystemDns, type SystemDns } from '../dns/index.js';
import type { Logger } from '../host/log.js';
import type { Change } from './state-journal.js';
import type { DnsMode } from './types.js';

export type ResolverChange = Extract<Change, { kind: 'dns' }>;
export type ResolverMode = 'resolved' | 'resolvconf';

export interface SystemResolverOptions {
  device: string;
  dnsAddress: string;
  clusterDomain: string;
  searchDomains: string[];
  routingDomains: string[];
  /** kvpn's state dir: SystemDns keeps its state and backup in <stateDir>/dns/<session id>. */
  stateDir: string;
  sessionId: string;
  resolvConfPath?: string | undefined;
  replaceSymlink?: boolean | undefined;
  log: Logger;
}

export function dnsStateDir(stateDir: string, sessionId: string): string {
  return join(stateDir, 'dns', sessionId);
}

function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {}
}

export class SystemResolver {
  readonly mode: ResolverMode;
  readonly #system: SystemDns;
  readonly #options: SystemResolverOptions;
  readonly #dir: string;

  private constructor(mode: ResolverMode, system: SystemDns, dir: string, options: SystemResolverOptions) {
    this.mode = mode;
    this.#system = system;
    this.#dir = dir;
    this.#options = options;
  }

  /** Decides the mode (auto: systemd-resolved when it manages the resolver) without changing anything. */
  static async choose(mode: Exclude<DnsMode, 'off'>, options: SystemResolverOptions): Promise<SystemResolver> {
    const dir = dnsStateDir(options.stateDir, options.sessionId);
    const system = createSystemDns({
      stateDir: dir,
      mode: mode === 'auto' ? 'auto' : mode === 'resolved' ? 'resolved' : 'resolv.conf',
      ...(options.resolvConfPath ? { resolvConfPath: options.resolvConfPath } : {}),
      ...(options.replaceSymlink ? { replaceSymlink: true } : {}),
    });
    const detected = await system.detect();
    return new SystemResolver(detected === 'resolved' ? 'resolved' : 'resolvconf', system, dir, options);
  }

  /** The journal entry, recorded before apply(). */
  change(): ResolverChange {
    return {
      kind: 'dns',
      mode: this.mode,
      device: this.#options.device,
      dnsStateDir: this.#dir,
      resolvConfPath: this.#options.resolvConfPath ?? '/etc/resolv.conf',
    };
  }

  async apply(): Promise<AppliedDns> {
    const applied = await this.#system.apply({
      serverAddress: this.#options.dnsAddress,
      linkName: this.#options.device,
      clusterDomain: this.#options.clusterDomain,
      searchDomains: this.#options.searchDomains,
      routingDomains: this.#options.routingDomains,
    });
    for (const note of applied.notes) this.#options.log.warn(`DNS: ${note}`);
    return applied;
  }

  async restore(): Promise<boolean> {
    const result = await this.#system.restore();
    for (const note of result.notes) this.#options.log.warn(`DNS: ${note}`);
    removeIfEmpty(this.#dir);
    return result.restored;
  }
}

/** After a crash: undoes what the dead session's SystemDns state records. */
export async function restoreResolver(change: ResolverChange, log: Logger): Promise<boolean> {
  const system = createSystemDns({ stateDir: change.dnsStateDir, resolvConfPath: change.resolvConfPath });
  const result = await system.repairLeftovers();
  for (const note of result.notes) log.warn(`DNS: ${note}`);
  removeIfEmpty(change.dnsStateDir);
  return result.restored;
}
