// The session's DNS: the in-TUN server answering the cluster zone from
// watches (src/dns), its forwarders (the cluster DNS through the tunnel; the
// machine's original resolvers for other names in resolv.conf mode), the
// dialer that hands the stack's packets for the DNS address to the server,
// and the machine's resolver configuration (journaled before it changes).
// The cluster domain is asked of the cluster DNS first (detectClusterDomain):
// the zone, the search domains and the resolver's routing domain follow it.
// A user who may not read Services still gets DNS: the cluster DNS is found
// through the tunnel (cluster-services.ts), the watches it may not open are
// reported by forbiddenWatches(), and the server forwards their names.

import {
  type ClusterAddress,
  ClusterRecords,
  createClusterForwarder,
  createDnsDialer,
  createSessionDnsServer,
  DEFAULT_CLUSTER_DOMAIN,
  type DnsQueryEvent,
  detectClusterDomain,
  type Forwarder,
  namespaceSearchDomains,
  reverseZonesOf,
  type ZoneSnapshot,
} from '../dns/index.js';
import type { Logger } from '../host/log.js';
import type { KubeClient } from '../kube/client.js';
import { parseCidr } from '../net/cidr.js';
import { formatIpNumber } from '../net/ip.js';
import type { Dialer } from '../tun/stack/index.js';
import type { WellKnownServices } from './cluster-services.js';
import { SystemResolver } from './dns-restore.js';
import type { StateJournal } from './state-journal.js';
import type { DnsMode } from './types.js';

export interface DnsSetupOptions {
  client: KubeClient;
  /** The tunnel: the cluster DNS is reached through it. */
  dialer: Dialer;
  mode: DnsMode;
  /** Where the machine's resolver sends queries (IPv4: every TUN has it). */
  dnsAddress: string;
  /** The server also answers here (the TUN's IPv6 DNS address), for clients that ask it directly. */
  dnsAddress6?: string | undefined;
  device: string;
  namespace: string;
  serviceCidrs: string[];
  podCidrs: string[];
  stateDir: string;
  sessionId: string;
  resolvConfPath?: string | undefined;
  replaceSymlink?: boolean | undefined;
  log: Logger;
  /** Problems the user should see in `kvpn status` (the log has them too). */
  warn?: ((message: string) => void) | undefined;
  /** The kubernetes and kube-dns Services through the tunnel, for when kube-dns may not be read. */
  wellKnown?: (() => Promise<WellKnownServices>) | undefined;
  /** Addresses the cluster DNS answered (see DnsServerOptions.onClusterAddresses). */
  onClusterAddresses?: ((found: ClusterAddress[]) => Promise<void> | undefined) | undefined;
  /** Sees every answered query (the inspection page). */
  observer?: ((event: DnsQueryEvent) => void) | undefined;
}

export interface DnsSetup {
  readonly mode: Exclude<DnsMode, 'auto'>;
  /** As the cluster DNS told it (DEFAULT_CLUSTER_DOMAIN if it would not); undefined with DNS off. */
  readonly clusterDomain: string | undefined;
  readonly searchDomains: string[];
  /** The stack's dialer: the DNS address goes to our server, the rest to the tunnel. */
  readonly dialer: Dialer;
  /** Points the machine's resolver at us (journaled first). */
  apply(journal: StateJournal): Promise<void>;
  restore(): Promise<boolean>;
  stats(): Record<string, number>;
  /** Resolves once every watch has synced or been refused, or after `maxMs`. */
  settled(maxMs: number): Promise<void>;
  /** Namespaces (or '*') whose watch RBAC refused, per kind ({} with DNS off). */
  forbiddenWatches(): Record<string, string[]>;
  /** The cluster zone as of now (undefined with DNS off). */
  zone(): ZoneSnapshot | undefined;
  close(): void;
}

/**
 * kube-dns's ClusterIP when readable, else its address as the relay pod's
 * resolver gives it, else the conventional 10th address of the service range.
 */
async function clusterDnsAddress(
  client: KubeClient,
  serviceCidrs: string[],
  wellKnown: (() => Promise<WellKnownServices>) | undefined,
): Promise<string | undefined> {
  try {
    const svc = await client.request<{ spec?: { clusterIP?: string } }>(
      'GET',
      '/api/v1/namespaces/kube-system/services/kube-dns',
    );
    if (svc.spec?.clusterIP && svc.spec.clusterIP !== 'None') return svc.spec.clusterIP;
  } catch {}
  const resolved = (await wellKnown?.())?.clusterDns[0];
  if (resolved) return resolved;
  const first = serviceCidrs.find((c) => !c.includes(':'));
  if (!first) return undefined;
  const cidr = parseCidr(first);
  return formatIpNumber(4, cidr.base + 10n);
}

/** The kubernetes Service's address in each service range: the range's first address. */
function kubernetesServiceAddresses(serviceCidrs: string[]): string[] {
  return serviceCidrs.map((text) => {
    const cidr = parseCidr(text);
    return formatIpNumber(cidr.family, cidr.base + 1n);
  });
}

/** Asks the cluster DNS (no API rights needed); the default, and a warning, if it cannot tell. */
async function clusterDomainOf(
  forwarder: Forwarder | undefined,
  serviceCidrs: string[],
  clusterDns: string | undefined,
  log: Logger,
  warn: ((message: string) => void) | undefined,
): Promise<string> {
  const asked = [...kubernetesServiceAddresses(serviceCidrs), ...(clusterDns ? [clusterDns] : [])];
  const detected = forwarder ? await detectClusterDomain(forwarder, asked) : undefined;
  if (detected) {
    log.info('cluster domain detected', { clusterDomain: detected, asked });
    return detected;
  }
  const message = `the cluster DNS${clusterDns ? ` (${clusterDns})` : ''} did not name the cluster domain (PTR of ${asked.join(', ')}); assuming ${DEFAULT_CLUSTER_DOMAIN}`;
  if (warn) warn(message);
  else log.warn(message);
  return DEFAULT_CLUSTER_DOMAIN;
}

export async function startDns(options: DnsSetupOptions): Promise<DnsSetup> {
  const { log } = options;
  const reverseZones = [...options.serviceCidrs, ...options.podCidrs].flatMap(reverseZonesOf);
  if (options.mode === 'off') {
    return {
      mode: 'off',
      clusterDomain: undefined,
      searchDomains: [],
      dialer: options.dialer,
      apply: async () => {},
      restore: async () => false,
      stats: () => ({}),
      settled: async () => {},
      forbiddenWatches: () => ({}),
      zone: () => undefined,
      close: () => {},
    };
  }
  const clusterDns = await clusterDnsAddress(options.client, options.serviceCidrs, options.wellKnown);
  const clusterForwarder = clusterDns ? createClusterForwarder(options.dialer, clusterDns) : undefined;
  let resolver: SystemResolver;
  let clusterDomain: string;
  let searchDomains: string[];
  try {
    clusterDomain = await clusterDomainOf(clusterForwarder, options.serviceCidrs, clusterDns, log, options.warn);
    searchDomains = namespaceSearchDomains(options.namespace, clusterDomain);
    resolver = await SystemResolver.choose(options.mode, {
      device: options.device,
      dnsAddress: options.dnsAddress,
      clusterDomain,
      searchDomains,
      routingDomains: reverseZones,
      stateDir: options.stateDir,
      sessionId: options.sessionId,
      resolvConfPath: options.resolvConfPath,
      replaceSymlink: options.replaceSymlink,
      log,
    });
  } catch (err) {
    clusterForwarder?.close();
    throw err;
  }
  const records = ClusterRecords.fromInformers(options.client, {
    clusterDomain,
    namespaces: 'all',
    fallbackNamespace: options.namespace,
    onError: (err) => log.debug('DNS watch', { error: err }),
  });
  // The forwarder that asked for the domain serves the queries (its tunnel stream is already open).
  const server = createSessionDnsServer({
    records,
    ...(clusterForwarder ? { clusterForwarder } : {}),
    clusterReverseZones: reverseZones,
    ...(options.onClusterAddresses ? { onClusterAddresses: options.onClusterAddresses } : {}),
    ...(options.observer ? { observer: options.observer } : {}),
  });
  const addresses = [options.dnsAddress, ...(options.dnsAddress6 ? [options.dnsAddress6] : [])];
  log.info('DNS server ready', { addresses: addresses.join(' '), clusterDns, clusterDomain, mode: resolver.mode });
  return {
    mode: resolver.mode,
    clusterDomain,
    searchDomains,
    dialer: createDnsDialer(options.dialer, server, addresses),
    async apply(journal) {
      const change = resolver.change();
      journal.record(change);
      const applied = await resolver.apply();
      // resolv.conf mode: names outside the cluster go to the machine's original servers.
      if (applied.upstreams.length) server.setUpstreams(applied.upstreams);
    },
    restore: () => resolver.restore(),
    stats: () => ({ ...server.stats() }) as unknown as Record<string, number>,
    async settled(maxMs) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, maxMs);
      });
      await Promise.race([records.settled(), late]);
      clearTimeout(timer);
    },
    forbiddenWatches: () => records.forbidden(),
    zone: () => records.zone,
    close() {
      records.close();
      void server.close();
    },
  };
}
