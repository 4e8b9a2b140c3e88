// The session's link and routes: which kvpnN and TUN network it gets, the
// route plan checked against the machine's routes, and each route journaled
// before it is added — at start, and later when pods appear in new ranges
// or the cluster DNS names an address outside them.
import { KvpnError } from '../errors.js';
import type { SessionDirs } from '../host/paths.js';
import type { RouteTable } from '../tun/routes.js';
import { linksOfLiveSessions } from './cleanup.js';
import { findConflicts, hostPrefix, planRoutes, RouteConflictError, type RoutePlanInput } from './route-plan.js';
import type { StateJournal } from './state-journal.js';
import { candidateNetworks, type TunNetwork } from './tun-network.js';
import type { RouteInfo } from './types.js';

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

  constructor(options: SessionRoutesOptions) {
    this.#o = options;
  }

  get routed(): RouteInfo[] {
    return [...this.#routed];
  }

  get excluded(): { cidr: string; reason: string }[] {
    return [...this.#excluded];
  }

  /** The first device name and TUN network no live session and no existing link or route uses. */
  async pickNetwork(dirs: SessionDirs, sessionId: string, explicitName?: string): Promise<TunNetwork> {
    const existing = await this.#o.table.listRoutes();
    const taken = linksOfLiveSessions(dirs, sessionId);
    for (const candidate of candidateNetworks(explicitName)) {
      if (!explicitName && (taken.has(candidate.device) || (await this.#o.table.linkExists(candidate.device))))
        continue;
      const subnet = candidate.linkAddress.replace(/\.1\/30$/, '.0/30');
      if (existing.some((r) => r.destination === subnet)) continue;
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

  async configureLink(mtu: number): Promise<void> {
    const network = this.#network;
    if (!network) throw new KvpnError('KVPN_ERR_INTERNAL', 'internal', 'no TUN network picked');
    await this.#o.table.configureLink(network.device, { mtu, addresses: [network.linkAddress] });
  }

  /** Journals, then adds one route (once). */
  async add(route: RouteInfo): Promise<void> {
    const device = this.#device();
    if (this.#routed.some((r) => r.cidr === route.cidr)) return;
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
