// macOS: the plan is one /etc/resolver/<domain> file per routing domain
// (nameserver + port, which macOS honours), removed on stop and swept at
// start. Not implemented yet: every call says so clearly.
import { SystemDnsError } from './errors.js';
import type { AppliedDns, RestoreResult, SystemDns, SystemDnsMode } from './system-dns.js';

export class DarwinSystemDns implements SystemDns {
  #error(): SystemDnsError {
    return new SystemDnsError(
      'KVPN_ERR_DNS_UNSUPPORTED_PLATFORM',
      'DNS configuration on macOS (/etc/resolver files) is not supported yet',
      { remedy: 'Run kvpn on Linux for cluster names; on macOS, reach Services by their ClusterIPs for now.' },
    );
  }

  async detect(): Promise<SystemDnsMode> {
    throw this.#error();
  }

  async apply(): Promise<AppliedDns> {
    throw this.#error();
  }

  /** Nothing was ever applied on macOS, so there is nothing to undo. */
  async restore(): Promise<RestoreResult> {
    return { restored: false, notes: [] };
  }

  async repairLeftovers(): Promise<RestoreResult> {
    return { restored: false, notes: [] };
  }
}
