// The machine's resolver, through the DNS module's SystemDns: pick the mode,
// journal the change, point the resolver at the in-TUN server, and put it
// back. The journal entry is the only record of the change (SystemDns keeps
// none of its own), and one path undoes it — restoreResolver(), from the
// live session or from `kvpn down` after a crash; whether the session that
// made it is still alive is the journal's question (registry.ts, undo.ts).
// The resolv.conf backup sits outside the session directory so one kept
// aside ("changed by another program", see SystemDns) survives the
// session's cleanup.
import { rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { type AppliedDns, createSystemDns, type SystemDns, type SystemDnsMode } from '../dns/index.js';
import type { Logger } from '../host/log.js';
import type { Change } from './state-journal.js';
import type { DnsMode } from './types.js';

export type ResolverChange = Extract<Change, { kind: 'dns' }>;

export interface SystemResolverOptions {
  device: string;
  dnsAddress: string;
  clusterDomain: string;
  searchDomains: string[];
  routingDomains: string[];
  /** kvpn's state dir: SystemDns keeps its backup in <stateDir>/dns/<session id>. */
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
  readonly #system: SystemDns;
  readonly #change: ResolverChange;
  readonly #options: SystemResolverOptions;

  private constructor(system: SystemDns, change: ResolverChange, options: SystemResolverOptions) {
    this.#system = system;
    this.#change = change;
    this.#options = options;
  }

  /** Decides the mode (auto: systemd-resolved when it manages the resolver) without changing anything. */
  static async choose(mode: Exclude<DnsMode, 'off'>, options: SystemResolverOptions): Promise<SystemResolver> {
    const system = createSystemDns({
      stateDir: dnsStateDir(options.stateDir, options.sessionId),
      mode,
      ...(options.resolvConfPath ? { resolvConfPath: options.resolvConfPath } : {}),
      ...(options.replaceSymlink ? { replaceSymlink: true } : {}),
    });
    const record = await system.record(options.device);
    return new SystemResolver(system, { kind: 'dns', ...record }, options);
  }

  get mode(): SystemDnsMode {
    return this.#change.mode;
  }

  /** The journal entry, recorded before apply(): all that undoing it takes. */
  change(): ResolverChange {
    return { ...this.#change };
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

  restore(): Promise<boolean> {
    return restoreResolver(this.#change, this.#options.log);
  }
}

/** Undoes a journaled resolver change (this session's, or a crashed one's); false when there was nothing to undo. */
export async function restoreResolver(change: ResolverChange, log: Logger): Promise<boolean> {
  const result = await createSystemDns({ stateDir: change.dnsStateDir }).restore(change);
  for (const note of result.notes) log.warn(`DNS: ${note}`);
  removeIfEmpty(change.dnsStateDir);
  return result.restored;
}
