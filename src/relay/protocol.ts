// The tunnel protocol shared by the client (src/tunnel) and the relay
// (src/relay/server): header names, the dial-result vocabulary and its
// encoding in a Proxy-Status field (RFC 9209), authorities. Pure functions
// only; docs/protocol.md is the normative description.
//
//   client                                   relay
//   CONNECT host:port  proxy-authorization ─►  dial host:port
//                     ◄─ 200                  connected
//                     ◄─ 502/504 + proxy-status: kvpn-relay; error=connection_refused; details="…"

/** Bumped on any incompatible change; the relay reports it on GET /v1/info. */
export const TUNNEL_PROTOCOL_VERSION = 1;
export const PROXY_NAME = 'kvpn-relay';

export const HEADER_AUTHORIZATION = 'proxy-authorization';
/** `tcp` (default when absent) or `udp/1` (length-prefixed datagrams, version 1). */
export const HEADER_TRANSPORT = 'kvpn-transport';
/** Optional per-request dial timeout, milliseconds; the relay caps it. */
export const HEADER_CONNECT_TIMEOUT = 'kvpn-connect-timeout-ms';
export const HEADER_PROXY_STATUS = 'proxy-status';
/** The address the relay connected to (after resolving a name), on 200. */
export const HEADER_PEER = 'kvpn-peer';
/** On 200: how long the relay's own dial took, microseconds (the connect path taken apart). */
export const HEADER_DIAL_MICROS = 'kvpn-dial-us';

export const TRANSPORT_TCP = 'tcp';
export const TRANSPORT_UDP = 'udp/1';

/**
 * Inbound: `CONNECT 0.0.0.0:port` with this header set to `tcp` parks the
 * stream on the relay's listener for that port (opened on first use); the
 * relay answers 200 (`kvpn-peer`: the cluster client) when a connection
 * arrives there, and the stream carries it. docs/protocol.md, "Inbound".
 */
export const HEADER_ACCEPT = 'kvpn-accept';
/** The informational answer to a parked stream: the listener is open. */
export const PARKED_STATUS = 102;
export const ACCEPT_TCP = 'tcp';
/** Inbound UDP: one parked stream per source address, datagrams framed as in udp/1. */
export const ACCEPT_UDP = 'udp/1';
/** Inbound listeners take ports in this range only (unprivileged, clear of the relay's own). */
export const INBOUND_PORT_MIN = 20000;
export const INBOUND_PORT_MAX = 29999;

export const INFO_PATH = '/v1/info';
export const RESOLVE_PATH = '/v1/resolve';

/** The JSON body of a 200 answer to RESOLVE_PATH. */
export interface ResolveAnswer {
  name: string;
  addresses: { address: string; family: 4 | 6 }[];
}

/** RFC 9209 §2.3 proxy error types the relay reports. */
export type ProxyErrorType =
  | 'dns_error'
  | 'dns_timeout'
  | 'destination_not_found'
  | 'destination_unavailable'
  | 'destination_ip_prohibited'
  | 'destination_ip_unroutable'
  | 'connection_refused'
  | 'connection_terminated'
  | 'connection_timeout'
  | 'connection_limit_reached'
  | 'http_request_error'
  | 'http_request_denied'
  | 'proxy_internal_error';

export interface ProxyStatus {
  error: ProxyErrorType | string;
  details?: string | undefined;
  /** For dns_error: the DNS response code name (NXDOMAIN, SERVFAIL…). */
  rcode?: string | undefined;
}

export interface DialOutcome extends ProxyStatus {
  status: number;
}

/**
 * What a failed dial means, by the OS error of the relay's socket: the one table
 * for it (test/helpers/direct-dialer.ts uses it too, so tests see what a dial in
 * the cluster would give). The client turns the type into the stack's answer
 * (src/tunnel/dial-failure.ts): a refusal is a RST, a destination that is not
 * there is ICMP unreachable, a timeout is silence (the app's kernel retries the
 * SYN). The comments say what produces each code on Linux.
 */
const SOCKET_ERRORS: Readonly<Record<string, Omit<DialOutcome, 'details'>>> = {
  // The target answered the SYN with a RST (nothing listens), or ICMP port unreachable.
  ECONNREFUSED: { status: 502, error: 'connection_refused' },
  // The kernel's SYN retries ran out.
  ETIMEDOUT: { status: 504, error: 'connection_timeout' },
  // ICMP host unreachable or administratively prohibited (a NetworkPolicy that
  // rejects), or no neighbour answered (a pod that is gone).
  EHOSTUNREACH: { status: 502, error: 'destination_unavailable' },
  // ICMP "destination host unknown" (RFC 1122 §3.2.2.1).
  EHOSTDOWN: { status: 502, error: 'destination_unavailable' },
  // No route from the relay's pod, or ICMP network unreachable.
  ENETUNREACH: { status: 502, error: 'destination_ip_unroutable' },
  // The pod's interface toward the destination is down: nothing there can be reached.
  ENETDOWN: { status: 502, error: 'destination_ip_unroutable' },
  // No usable local address or port toward the destination: an IPv6 target from a
  // pod without IPv6, or every local port toward that address and port in use.
  EADDRNOTAVAIL: { status: 502, error: 'destination_ip_unroutable' },
  // A local rule refused the packet: netfilter in the pod's namespace (EPERM),
  // a broadcast address or a security module (EACCES). Like a reject on the
  // way, the app should hear "prohibited", not "refused".
  EACCES: { status: 502, error: 'destination_ip_prohibited' },
  EPERM: { status: 502, error: 'destination_ip_prohibited' },
  // Resolving a name target (dns.lookup / c-ares codes).
  ENOTFOUND: { status: 502, error: 'dns_error', rcode: 'NXDOMAIN' },
  ENODATA: { status: 502, error: 'dns_error', rcode: 'NXDOMAIN' },
  ESERVFAIL: { status: 502, error: 'dns_error', rcode: 'SERVFAIL' },
  EREFUSED: { status: 502, error: 'dns_error', rcode: 'REFUSED' },
  EAI_AGAIN: { status: 504, error: 'dns_timeout' },
  ETIMEOUT: { status: 504, error: 'dns_timeout' },
  // The connection broke while it was being set up.
  ECONNRESET: { status: 502, error: 'connection_terminated' },
  EPIPE: { status: 502, error: 'connection_terminated' },
};

/** What a failed dial of the relay's socket means, from the OS error code (see SOCKET_ERRORS). */
export function classifySocketError(code: string | undefined, message: string): DialOutcome {
  const known = code !== undefined && Object.hasOwn(SOCKET_ERRORS, code) ? SOCKET_ERRORS[code] : undefined;
  return { ...(known ?? { status: 502, error: 'proxy_internal_error' }), details: message };
}

/** `kvpn-relay; error=connection_refused; details="…"` (an RFC 8941 list member). */
export function formatProxyStatus(status: ProxyStatus): string {
  let out = `${PROXY_NAME}; error=${status.error}`;
  if (status.rcode) out += `; rcode=${sfString(status.rcode)}`;
  if (status.details) out += `; details=${sfString(status.details)}`;
  return out;
}

function sfString(value: string): string {
  // sf-string allows printable ASCII only; escape \ and ", drop the rest.
  const printable = value.replace(/[^\x20-\x7e]/g, '?').slice(0, 512);
  return `"${printable.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Reads the first member of a Proxy-Status field; undefined if it carries no error. */
export function parseProxyStatus(value: string | undefined): ProxyStatus | undefined {
  if (!value) return undefined;
  const params = new Map<string, string>();
  let i = value.indexOf(';');
  if (i < 0) return undefined;
  while (i >= 0 && i < value.length) {
    // At a ';': read key[=value].
    i++;
    while (value[i] === ' ') i++;
    const keyMatch = /^[a-z*][a-z0-9_.*-]*/.exec(value.slice(i));
    if (!keyMatch) break;
    const key = keyMatch[0];
    i += key.length;
    let param = 'true';
    if (value[i] === '=') {
      i++;
      if (value[i] === '"') {
        let out = '';
        i++;
        while (i < value.length && value[i] !== '"') {
          if (value[i] === '\\') i++;
          out += value[i] ?? '';
          i++;
        }
        i++;
        param = out;
      } else {
        const tok = /^[^;,\s]*/.exec(value.slice(i))?.[0] ?? '';
        i += tok.length;
        param = tok;
      }
    }
    params.set(key, param);
    while (value[i] === ' ') i++;
    if (value[i] !== ';') break;
  }
  const error = params.get('error');
  if (!error) return undefined;
  return { error, details: params.get('details'), rcode: params.get('rcode') };
}

/** `host:port`, with IPv6 literals in brackets (RFC 9113 §8.5 uses the authority form). */
export function formatAuthority(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function parseAuthority(authority: string | undefined): { host: string; port: number } | undefined {
  if (!authority) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/@]+)):(\d{1,5})$/.exec(authority);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

/**
 * Flow-control windows (docs/design.md §5): one stream must not be
 * window-bound at 20 ms RTT, nor behind the buffers of the path itself (the
 * API server's and kernel socket queues hold several MiB each way). One
 * stream through the tunnel on test/cluster, 0 ms added: 16/64 MiB
 * 313–342 MB/s down, 345–394 up; 32/128 MiB 372–379 down, 412–425 up;
 * 256 MiB/1 GiB 387 down, 395 up. A slow reader holds up to one stream
 * window in the receiver before its sender stops.
 */
export const STREAM_WINDOW_BYTES = 32 * 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 128 * 1024 * 1024;
/** Larger DATA frames mean fewer per-frame callbacks in Node's http2. */
export const MAX_FRAME_BYTES = 256 * 1024;
/**
 * Streams one carrier (HTTP/2 connection) may carry at once (advertised by both ends). With the
 * default 4 carriers this must clear 10,000 concurrent connections: 2048 per
 * carrier capped a benchmark at exactly 8,192 held connections.
 */
export const MAX_CONCURRENT_STREAMS = 8192;
/** Node's http2 `maxSessionMemory` (MB): outbound data queued per session before new streams are refused. */
export const MAX_CARRIER_MEMORY_MB = 256;
