// macOS: the plan is one /etc/resolver/<domain> file per routing domain
// (nameserver + port, which macOS honours), removed on stop and swept at
// start. Not implemented yet: every call says so clearly.
import type { SystemDns } from './system-dns.js';
import { UnsupportedSystemDns } from './system-dns-unsupported.js';

export function createDarwinSystemDns(): SystemDns {
  return new UnsupportedSystemDns(
    'DNS configuration on macOS (/etc/resolver files) is not supported yet',
    'Run kvpn on Linux for cluster names; on macOS, reach Services by their ClusterIPs for now.',
  );
}
