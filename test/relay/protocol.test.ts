import t from 'tap';
import {
  classifySocketError,
  formatAuthority,
  formatProxyStatus,
  parseAuthority,
  parseProxyStatus,
} from '../../src/relay/protocol.js';
import { dialFailureReason } from '../../src/tunnel/dial-failure.js';

t.test('proxy-status round-trips error, rcode and quoted details', async (t) => {
  const field = formatProxyStatus({ error: 'dns_error', rcode: 'NXDOMAIN', details: 'getaddrinfo ENOTFOUND "db"\\x' });
  t.equal(field, 'kvpn-relay; error=dns_error; rcode="NXDOMAIN"; details="getaddrinfo ENOTFOUND \\"db\\"\\\\x"');
  t.same(parseProxyStatus(field), { error: 'dns_error', rcode: 'NXDOMAIN', details: 'getaddrinfo ENOTFOUND "db"\\x' });
  t.same(parseProxyStatus('other; error=connection_timeout'), {
    error: 'connection_timeout',
    details: undefined,
    rcode: undefined,
  });
  t.equal(parseProxyStatus('kvpn-relay; received-status=200'), undefined, 'no error parameter');
  t.equal(parseProxyStatus(''), undefined);
  t.equal(parseProxyStatus('garbage'), undefined);
  t.equal(
    formatProxyStatus({ error: 'proxy_internal_error', details: 'caf\u00e9\n' }),
    'kvpn-relay; error=proxy_internal_error; details="caf??"',
  );
});

t.test('socket errors map to RFC 9209 types and then to the stack answer', async (t) => {
  // Every code of the relay's table (docs/protocol.md): refused → RST, a destination
  // that is not there → ICMP unreachable, a timeout → silence, the rest → RST.
  const cases: [string, number, string, string, string?][] = [
    ['ECONNREFUSED', 502, 'connection_refused', 'refused'],
    ['ETIMEDOUT', 504, 'connection_timeout', 'timeout'],
    ['EHOSTUNREACH', 502, 'destination_unavailable', 'unreachable'],
    ['EHOSTDOWN', 502, 'destination_unavailable', 'unreachable'],
    ['ENETUNREACH', 502, 'destination_ip_unroutable', 'unreachable'],
    ['ENETDOWN', 502, 'destination_ip_unroutable', 'unreachable'],
    ['EADDRNOTAVAIL', 502, 'destination_ip_unroutable', 'unreachable'],
    ['EACCES', 502, 'destination_ip_prohibited', 'unreachable'],
    ['EPERM', 502, 'destination_ip_prohibited', 'unreachable'],
    ['ENOTFOUND', 502, 'dns_error', 'unreachable', 'NXDOMAIN'],
    ['ENODATA', 502, 'dns_error', 'unreachable', 'NXDOMAIN'],
    ['ESERVFAIL', 502, 'dns_error', 'unreachable', 'SERVFAIL'],
    ['EREFUSED', 502, 'dns_error', 'unreachable', 'REFUSED'],
    ['EAI_AGAIN', 504, 'dns_timeout', 'timeout'],
    ['ETIMEOUT', 504, 'dns_timeout', 'timeout'],
    ['ECONNRESET', 502, 'connection_terminated', 'error'],
    ['EPIPE', 502, 'connection_terminated', 'error'],
    ['EMFILE', 502, 'proxy_internal_error', 'error'],
    ['toString', 502, 'proxy_internal_error', 'error'],
  ];
  for (const [code, status, error, reason, rcode] of cases) {
    const outcome = classifySocketError(code, 'x');
    t.same([outcome.status, outcome.error, outcome.rcode, outcome.details], [status, error, rcode, 'x'], code);
    t.equal(
      dialFailureReason(outcome.status, parseProxyStatus(formatProxyStatus(outcome))),
      reason,
      `${code} → ${reason}`,
    );
  }
  t.same(classifySocketError(undefined, 'y'), { status: 502, error: 'proxy_internal_error', details: 'y' }, 'no code');
  t.equal(dialFailureReason(504, undefined), 'timeout', 'a bare 504 is a timeout');
  t.equal(dialFailureReason(407, undefined), 'error');
});

t.test('authorities: IPv6 in brackets, names, bad input rejected', async (t) => {
  t.equal(formatAuthority('10.96.0.1', 443), '10.96.0.1:443');
  t.equal(formatAuthority('fd00::1', 53), '[fd00::1]:53');
  t.same(parseAuthority('[fd00::1]:53'), { host: 'fd00::1', port: 53 });
  t.same(parseAuthority('db.shop.svc.cluster.local:5432'), { host: 'db.shop.svc.cluster.local', port: 5432 });
  for (const bad of [undefined, '', 'host', 'host:0', 'host:65536', 'fd00::1:53', 'a b:1', 'user@host:1', '[x]:1']) {
    t.equal(parseAuthority(bad), undefined, `rejects ${JSON.stringify(bad)}`);
  }
});
