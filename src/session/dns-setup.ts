// The session's DNS: the in-TUN server answering the cluster zone from
// watches (src/dns), its forwarders (the cluster DNS through the tunnel; the
// machine's original resolvers for other names in resolv.conf mode), the
// dialer that hands the stack's packets for the DNS address to the server,
// and the machine's resolver configuration (journaled before it changes).

import {
  ClusterRecords,
  createClusterForwarder,
  createDnsDialer,
  createSessionDnsServer,
  namespaceSearchDomains,
  reverseZonesOf,
} from '../dns/index.js';
import type { Logger } from '../host/log.js';
import type { KubeClient } from '../kube/client.js';
import { parseCidr } from '../net/cidr.js';
import { formatIpNumber } from '../net/ip.js';
import type { Dialer } from '../tun/stack/index.js';
import { SystemResolver } from './dns-restore.js';
import type { StateJournal } from './state-journal.js';
import type { DnsMode } from './types.js';

export const CLUSTER_DOMAIN = 'cluster.local';

export interface DnsSetupOptions {
  client: KubeClient;
  /** The tunnel: the cluster DNS is reached through it. */
  dialer: Dialer;
  mode: DnsMode;
  dnsAddress: string;
  device: string;
  namespace: string;
  serviceCidrs: string[];
  podCidrs: string[];
  stateDir: string;
  sessionId: string;
  resolvConfPath?: string | undefined;
  replaceSymlink?: boolean | undefined;
  log: Logger;
}

export interface DnsSetup {
  readonly mode: Exclude<DnsMode, 'auto'>;
  readonly searchDomains: string[];
  /** The stack's dialer: the DNS address goes to our server, the rest to the tunnel. */
  readonly dialer: Dialer;
  /** Points the machine's resolver at us (journaled first). */
  apply(journal: StateJournal): Promise<void>;
  restore(): Promise<boolean>;
  stats(): Record<string, number>;
  close(): void;
}

/** kube-dns's ClusterIP when readable, else the conventional 10th address of the service range. */
async function clusterDnsAddress(client: KubeClient, serviceCidrs: string[]): Promise<string | undefined> {
  try {
    const svc = await client.request<{ spec?: { clusterIP?: string } }>(
      'GET',
      '/api/v1/namespaces/kube-system/services/kube-dns',
    );
    if (svc.spec?.clusterIP && svc.spec.clusterIP !== 'None') return svc.spec.clusterIP;
  } catch {}
  const first = serviceCidrs.find((c) => !c.includes(':'));
  if (!first) return undefined;
  const cidr = parseCidr(first);
  return formatIpNumber(4, cidr.base + 10n);
}

export async function startDns(options: DnsSetupOptions): Promise<DnsSetup> {
  const { log } = options;
  const searchDomains = namespaceSearchDomains(options.namespace, CLUSTER_DOMAIN);
  const reverseZones = [...options.serviceCidrs, ...options.podCidrs].flatMap(reverseZonesOf);
  if (options.mode === 'off') {
    return {
      mode: 'off',
      searchDomains: [],
      dialer: options.dialer,
      apply: async () => {},
      restore: async () => false,
      stats: () => ({}),
      close: () => {},
    };
  }
  const resolver = await SystemResolver.choose(options.mode, {
    device: options.device,
    dnsAddress: options.dnsAddress,
    clusterDomain: CLUSTER_DOMAIN,
    searchDomains,
    routingDomains: reverseZones,
    stateDir: options.stateDir,
    sessionId: options.sessionId,
    resolvConfPath: options.resolvConfPath,
    replaceSymlink: options.replaceSymlink,
    log,
  });
  const records = ClusterRecords.fromInformers(options.client, {
    clusterDomain: CLUSTER_DOMAIN,
    namespaces: 'all',
    fallbackNamespace: options.namespace,
    onError: (err) => log.debug('DNS watch', { error: err }),
  });
  const clusterDns = await clusterDnsAddress(options.client, options.serviceCidrs);
  const server = createSessionDnsServer({
    records,
    ...(clusterDns ? { clusterForwarder: createClusterForwarder(options.dialer, clusterDns) } : {}),
    clusterReverseZones: reverseZones,
  });
  log.info('DNS server ready', { address: options.dnsAddress, clusterDns, mode: resolver.mode });
  return {
    mode: resolver.mode,
    searchDomains,
    dialer: createDnsDialer(options.dialer, server, options.dnsAddress),
    async apply(journal) {
      const change = resolver.change();
      journal.record(change);
      const applied = await resolver.apply();
      // resolv.conf mode: names outside the cluster go to the machine's original servers.
      if (applied.upstreams.length) server.setUpstreams(applied.upstreams);
    },
    restore: () => resolver.restore(),
    stats: () => ({ ...server.stats() }) as unknown as Record<string, number>,
    close() {
      records.close();
      void server.close();
    },
  };
}
