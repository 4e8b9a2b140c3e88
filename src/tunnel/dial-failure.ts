// The relay's answer to a failed dial, in the stack's words: which way the
// stack tells the application (RST, ICMP unreachable, silence; docs/design.md
// "Dial first").
import type { ProxyStatus } from '../relay/protocol.js';
import type { DialFailureReason } from '../tun/stack/index.js';

/** How the stack answers a failed dial. */
export function dialFailureReason(status: number, proxyStatus: ProxyStatus | undefined): DialFailureReason {
  switch (proxyStatus?.error) {
    case 'connection_refused':
      return 'refused';
    case 'destination_unavailable':
    case 'destination_ip_unroutable':
    case 'destination_ip_prohibited':
    case 'destination_not_found':
    case 'dns_error':
      return 'unreachable';
    case 'connection_timeout':
    case 'dns_timeout':
      return 'timeout';
    case undefined:
      return status === 504 ? 'timeout' : 'error';
    default:
      return 'error';
  }
}
