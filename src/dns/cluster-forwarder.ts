// The path to the cluster DNS (kube-dns / CoreDNS ClusterIP): DNS over TCP
// through the tunnel. The Dialer is the one the stack uses, so the query
// rides a tunnel stream to the relay pod, which dials <clusterIP>:53 inside
// the cluster; queries are pipelined on one such stream.
import { isIPv6 } from 'node:net';
import type { Dialer, Endpoint } from '../tun/stack/index.js';
import { DnsTcpForwarder, FORWARD_TIMEOUT_MS } from './tcp-forwarder.js';

export interface ClusterForwarderOptions {
  timeoutMs?: number;
  /** Reported to the dialer as the connection's source (for logs). */
  source?: Endpoint;
}

export function createClusterForwarder(
  dialer: Dialer,
  clusterDns: string | Endpoint,
  options: ClusterForwarderOptions = {},
): DnsTcpForwarder {
  const destination = typeof clusterDns === 'string' ? { address: clusterDns, port: 53 } : clusterDns;
  const family = isIPv6(destination.address) ? 6 : 4;
  const source = options.source ?? { address: family === 6 ? '::' : '0.0.0.0', port: 0 };
  return new DnsTcpForwarder({
    label: `cluster DNS ${destination.address}:${destination.port}`,
    timeoutMs: options.timeoutMs ?? FORWARD_TIMEOUT_MS,
    connect: (signal) => dialer.dialTcp({ family, destination, source, signal }),
  });
}
