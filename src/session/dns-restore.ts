// The machine's resolver: pointing it at the in-TUN DNS server and putting
// it back. (Wired to the DNS module's SystemDns once it lands.)
import { KvpnError } from '../errors.js';
import type { Logger } from './log.js';
import type { Change } from './state-journal.js';
import type { DnsMode } from './types.js';

export type ResolverChange = Extract<Change, { kind: 'dns' }>;

export interface SystemResolverOptions {
  device: string;
  dnsAddress: string;
  searchDomains: string[];
  stateDir: string;
  resolvConfPath?: string | undefined;
  log: Logger;
}

export class SystemResolver {
  readonly mode: 'resolved' | 'resolvconf' = 'resolvconf';

  static async choose(_mode: DnsMode, _options: SystemResolverOptions): Promise<SystemResolver> {
    throw new KvpnError('KVPN_ERR_INTERNAL', 'internal', 'system DNS is not wired yet');
  }

  change(): ResolverChange {
    throw new KvpnError('KVPN_ERR_INTERNAL', 'internal', 'system DNS is not wired yet');
  }

  async apply(): Promise<string[]> {
    return [];
  }

  async restore(_change: ResolverChange): Promise<boolean> {
    return false;
  }
}

export async function restoreResolver(_change: ResolverChange, _log: Logger): Promise<boolean> {
  throw new KvpnError('KVPN_ERR_INTERNAL', 'internal', 'system DNS is not wired yet');
}
