// A SystemDns for platforms where kvpn cannot configure the resolver yet:
// configuring says so clearly; undoing has nothing to undo.
import { SystemDnsError } from './errors.js';
import type { AppliedDns, ResolverRecord, RestoreResult, SystemDns, SystemDnsMode } from './system-dns.js';

export class UnsupportedSystemDns implements SystemDns {
  readonly #message: string;
  readonly #remedy: string;

  constructor(message: string, remedy: string) {
    this.#message = message;
    this.#remedy = remedy;
  }

  #error(): SystemDnsError {
    return new SystemDnsError('KVPN_ERR_DNS_UNSUPPORTED_PLATFORM', this.#message, { remedy: this.#remedy });
  }

  async detect(): Promise<SystemDnsMode> {
    throw this.#error();
  }

  async record(): Promise<ResolverRecord> {
    throw this.#error();
  }

  async apply(): Promise<AppliedDns> {
    throw this.#error();
  }

  /** Nothing was ever applied, so there is nothing to undo. */
  async restore(): Promise<RestoreResult> {
    return { restored: false, notes: [] };
  }
}
