// Errors raised by the DNS module. Codes are listed in docs/dns.md.
import { KvpnError, type KvpnErrorOptions } from '../errors.js';

export type ForwardFailure = 'timeout' | 'failed' | 'overloaded' | 'closed';

/** A forwarded query got no usable answer; the client gets SERVFAIL. */
export class ForwardError extends KvpnError {
  readonly reason: ForwardFailure;
  constructor(reason: ForwardFailure, message: string, options: KvpnErrorOptions = {}) {
    super(reason === 'timeout' ? 'KVPN_ERR_DNS_FORWARD_TIMEOUT' : 'KVPN_ERR_DNS_FORWARD', 'cluster', message, options);
    this.reason = reason;
  }
}

/** The resolver configuration of the machine could not be changed or restored. */
export class SystemDnsError extends KvpnError {
  constructor(
    code:
      | 'KVPN_ERR_DNS_RESOLV_CONF_MANAGED'
      | 'KVPN_ERR_DNS_UNSUPPORTED_PLATFORM'
      | 'KVPN_ERR_DNS_SYSTEM'
      | 'KVPN_ERR_DNS_RESOLVECTL'
      | 'KVPN_ERR_DNS_LEFTOVER',
    message: string,
    options: KvpnErrorOptions = {},
  ) {
    const category =
      code === 'KVPN_ERR_DNS_RESOLV_CONF_MANAGED'
        ? 'config'
        : code === 'KVPN_ERR_DNS_UNSUPPORTED_PLATFORM'
          ? 'user'
          : 'system';
    super(code, category, message, options);
  }
}
