// Which prefixes go into the TUN. Pure: discovered ranges, --also-proxy and
// --never-proxy, the API server's addresses and the routes already on the
// machine in; routes to add, what was carved out and why, and conflicts out.
//   - The API server's own addresses are never routed (that would cut the
//     tunnel): a range containing one is split around it (docs/design.md §9).
//   - --never-proxy ranges are carved out the same way.
//   - A range overlapping an existing route on another interface is a
//     conflict naming both; default routes never count.
import { KvpnError } from '../errors.js';
import { bits, type Cidr, formatCidr, merge, overlaps, parseCidr, subtract } from '../net/cidr.js';
import type { RouteEntry } from '../tun/routes.js';
import type { RouteInfo } from './types.js';

export interface RoutePlanInput {
  service: readonly string[];
  pod: readonly string[];
  alsoProxy: readonly string[];
  neverProxy: readonly string[];
  /** The API server's addresses (every address its host name resolves to). */
  apiServer: readonly string[];
}

export interface RoutePlan {
  routes: RouteInfo[];
  excluded: { cidr: string; reason: string }[];
}

export interface RouteConflict {
  ours: string;
  theirs: RouteEntry;
}

export class RouteConflictError extends KvpnError {
  readonly conflicts: RouteConflict[];
  constructor(conflicts: RouteConflict[]) {
    const first = conflicts[0];
    const more = conflicts.length > 1 ? ` (and ${conflicts.length - 1} more)` : '';
    const theirs = first ? `${first.theirs.destination} dev ${first.theirs.device}` : '';
    super(
      'KVPN_ERR_ROUTE_CONFLICT',
      'system',
      `the cluster range ${first?.ours} overlaps the existing route ${theirs}${more}`,
      {
        remedy: `Exclude it with --never-proxy ${first?.ours ?? 'CIDR'}, or route it into the cluster anyway with --allow-conflicting.`,
      },
    );
    this.conflicts = conflicts;
  }
}

function parseAll(list: readonly string[]): Cidr[] {
  const out: Cidr[] = [];
  for (const text of list) {
    try {
      out.push(parseCidr(text));
    } catch {}
  }
  return out;
}

/** Removes `holes` from `ranges`, remembering each split for the summary. */
function carve(ranges: Cidr[], holes: { cidr: Cidr; reason: string }[], excluded: RoutePlan['excluded']): Cidr[] {
  let current = ranges;
  for (const hole of holes) {
    const next: Cidr[] = [];
    let hit = false;
    for (const r of current) {
      if (overlaps(r, hole.cidr)) hit = true;
      next.push(...subtract(r, hole.cidr));
    }
    if (hit && !excluded.some((e) => e.cidr === formatCidr(hole.cidr))) {
      excluded.push({ cidr: formatCidr(hole.cidr), reason: hole.reason });
    }
    current = next;
  }
  return current;
}

export function planRoutes(input: RoutePlanInput): RoutePlan {
  const excluded: RoutePlan['excluded'] = [];
  const holes = [
    ...parseAll(input.apiServer).map((cidr) => ({ cidr, reason: 'Kubernetes API server' })),
    ...parseAll(input.neverProxy).map((cidr) => ({ cidr, reason: '--never-proxy' })),
  ];
  const routes: RouteInfo[] = [];
  const taken: Cidr[] = [];
  const sources: [RouteInfo['source'], readonly string[]][] = [
    ['also-proxy', input.alsoProxy],
    ['service', input.service],
    ['pod', input.pod],
  ];
  for (const [source, list] of sources) {
    for (const cidr of merge(carve(merge(parseAll(list)), holes, excluded))) {
      // A range already routed for another reason is not routed twice.
      const pieces = taken.reduce<Cidr[]>((acc, t) => acc.flatMap((p) => subtract(p, t)), [cidr]);
      for (const piece of merge(pieces)) {
        routes.push({ cidr: formatCidr(piece), source });
        taken.push(piece);
      }
    }
  }
  return { routes, excluded };
}

/** Existing routes on other interfaces that overlap ours (default routes excepted). */
export function findConflicts(
  routes: readonly string[],
  existing: readonly RouteEntry[],
  ownDevice: string,
): RouteConflict[] {
  const conflicts: RouteConflict[] = [];
  for (const entry of existing) {
    if (entry.device === ownDevice) continue;
    let theirs: Cidr;
    try {
      theirs = parseCidr(entry.destination);
    } catch {
      continue;
    }
    if (theirs.length === 0) continue;
    for (const ours of routes) {
      const cidr = parseCidr(ours);
      if (cidr.family === theirs.family && overlaps(cidr, theirs)) conflicts.push({ ours, theirs: entry });
    }
  }
  return conflicts;
}

/** A host prefix for an address ("10.0.0.1" → "10.0.0.1/32"). */
export function hostPrefix(address: string): string {
  const c = parseCidr(address);
  return formatCidr({ ...c, length: bits(c.family) });
}
