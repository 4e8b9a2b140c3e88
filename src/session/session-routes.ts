// The session's link and routes: which kvpnN and TUN network it gets, the
// route plan checked against the machine's routes, and each route journaled
// before it is added — at start, and later when pods appear in new ranges
// or the cluster DNS names an address outside them. The link gets an IPv4
// and an IPv6 address; a machine with IPv6 turned off keeps the session on
// IPv4 alone (IPv6 ranges are then excluded, said once).
import { KvpnError } from '../errors.js';
import type { SessionDirs } from '../host/paths.js';
import { formatCidr, parseCidr } from '../net/cidr.js';
import type { RouteTable } from '../tun/routes.js';
import { linksOfLiveSessions } from './cleanup.js';
import { findConflicts, hostPrefix, planRoutes, RouteConflictError, type RoutePlanInput } from './route-plan.js';
import type { StateJournal } from './state-journal.js';
import { candidateNetworks, type TunNetwork } from './tun-network.js';
import type { RouteInfo } from './types.js';

const NO_IPV6 = 'no IPv6 on this machine';

export interface SessionRoutesOptions {
  table: RouteTable;
  journal: StateJournal;
  neverProxy: readonly string[];
  allowConflicting: boolean;
  warn: (message: string) => void;
}

export class SessionRoutes {
  readonly #o: SessionRoutesOptions;
  readonly #routed: RouteInfo[] = [];
  #excluded: { cidr: string; reason: string }[] = [];
  #apiServer: string[] = [];
  #network: TunNetwork | undefined;
  /** Why the link has no IPv6 address (IPv6 routes are then left out); undefined while it has one. */
  #noIpv6: string | undefined;

  constructor(options: SessionRoutesOptions) {
    this.#o = options;
  }

  get routed(): RouteInfo[] {
    return [...this.#routed];
  }

  get excluded(): { cidr: string; reason: string }[] {
    return [...this.#excluded];
  }

  /** Whether the link has its IPv6 address (true until configureLink says otherwise). */
  get ipv6(): boolean {
    return this.#noIpv6 === undefined;
  }

  /** The first device name and TUN network no live session and no existing link or route uses. */
  async pickNetwork(dirs: SessionDirs, sessionId: string, explicitName?: string): Promise<TunNetwork> {
    // Compared in canonical form: iproute2 and our formatter may spell an IPv6 prefix differently.
    const existing = new Set((await this.#o.table.listRoutes()).map((r) => canonical(r.destination)));
    const taken = linksOfLiveSessions(dirs, sessionId);
    for (const candidate of candidateNetworks(explicitName)) {
      if (!explicitName && (taken.has(candidate.device) || (await this.#o.table.linkExists(candidate.device))))
        continue;
      if (existing.has(canonical(candidate.subnet)) || existing.has(canonical(candidate.subnet6))) continue;
      this.#network = candidate;
      return candidate;
    }
    throw new KvpnError('KVPN_ERR_TOO_MANY_SESSIONS', 'system', 'no free kvpn device name or TUN subnet is left', {
      remedy: 'Stop some sessions (kvpn status lists them).',
    });
  }

  /**
   * The routes to add at start: the plan minus what conflicts. A conflict is
   * an error unless allowed; an identical prefix on another device is never
   * taken over (`ip route replace` would steal it, not shadow it).
   */
  async plan(input: Omit<RoutePlanInput, 'neverProxy'>): Promise<RouteInfo[]> {
    const device = this.#device();
    this.#apiServer = [...input.apiServer];
    const plan = planRoutes({ ...input, neverProxy: this.#o.neverProxy });
    this.#excluded = plan.excluded;
    const conflicts = findConflicts(
      plan.routes.map((r) => r.cidr),
      await this.#o.table.listRoutes(),
      device,
    );
    if (conflicts.length && !this.#o.allowConflicting) throw new RouteConflictError(conflicts);
    for (const c of conflicts) {
      this.#o.warn(
        c.theirs.destination === c.ours
          ? `${c.ours} is already routed via ${c.theirs.device}; not routed again (that would take it away from there)`
          : `routing ${c.ours} although it overlaps ${c.theirs.destination} dev ${c.theirs.device}`,
      );
    }
    return plan.routes.filter((r) => !conflicts.some((c) => c.theirs.destination === r.cidr));
  }

  /**
   * Sets both addresses and brings the link up. IPv6 turned off on this
   * machine (disable_ipv6, or a kernel without it) must not stop an IPv4
   * session: the link is then configured with its IPv4 address alone.
   */
  async configureLink(mtu: number): Promise<void> {
    const network = this.#network;
    if (!network) throw new KvpnError('KVPN_ERR_INTERNAL', 'internal', 'no TUN network picked');
    try {
      await this.#o.table.configureLink(network.device, {
        mtu,
        addresses: [network.linkAddress, network.linkAddress6],
      });
      this.#noIpv6 = undefined;
    } catch (err) {
      // Retried without IPv6: if IPv4 alone fails too, that error is the one to report.
      await this.#o.table.configureLink(network.device, { mtu, addresses: [network.linkAddress] });
      this.#noIpv6 = (err as Error).message;
    }
  }

  /** Journals, then adds one route (once). Without IPv6 on the link, an IPv6 range is excluded instead. */
  async add(route: RouteInfo): Promise<void> {
    const device = this.#device();
    if (this.#routed.some((r) => r.cidr === route.cidr)) return;
    if (this.#noIpv6 !== undefined && route.cidr.includes(':')) {
      if (this.#excluded.some((e) => e.cidr === route.cidr)) return;
      // Said once, and only to a session that has IPv6 ranges to lose.
      if (!this.#excluded.some((e) => e.reason === NO_IPV6))
        this.#o.warn(`no IPv6 on ${device} (${this.#noIpv6}); IPv6 cluster ranges are not routed`);
      this.#excluded.push({ cidr: route.cidr, reason: NO_IPV6 });
      return;
    }
    this.#o.journal.record({ kind: 'route', destination: route.cidr, device });
    await this.#o.table.addRoute(route.cidr, device);
    this.#routed.push(route);
  }

  /** A /32 (or /128) for an address that resolved from an --also-proxy host name. */
  async addHost(address: string): Promise<void> {
    await this.add({ cidr: hostPrefix(address), source: 'also-proxy' });
  }

  /**
   * A range found while running — a pod outside the routed ranges, or an
   * address the cluster DNS answered — routed too (same carve-outs and
   * checks). `why` names what is in it, for the conflict warning.
   */
  async addDiscovered(cidr: string, source: 'service' | 'pod', why: string): Promise<boolean> {
    const plan = planRoutes({
      service: source === 'service' ? [cidr] : [],
      pod: source === 'pod' ? [cidr] : [],
      alsoProxy: [],
      neverProxy: this.#o.neverProxy,
      apiServer: this.#apiServer,
    });
    const conflicts = findConflicts(
      plan.routes.map((r) => r.cidr),
      await this.#o.table.listRoutes(),
      this.#device(),
    );
    if (conflicts.length && !this.#o.allowConflicting) {
      const c = conflicts[0];
      this.#o.warn(`${why} is in ${cidr}, which overlaps ${c?.theirs.destination} dev ${c?.theirs.device}; not routed`);
      return false;
    }
    for (const r of plan.routes) if (!conflicts.some((c) => c.theirs.destination === r.cidr)) await this.add(r);
    return true;
  }

  #device(): string {
    if (!this.#network) throw new KvpnError('KVPN_ERR_INTERNAL', 'internal', 'no TUN network picked');
    return this.#network.device;
  }
}

/** A prefix in our canonical spelling; unparsable text as it is. */
function canonical(cidr: string): string {
  try {
    return formatCidr(parseCidr(cidr));
  } catch {
    return cidr;
  }
}
