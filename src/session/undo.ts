// Undoing what a session journaled, after a clean stop or a crash. Every
// undo is idempotent: a change that is already gone (or never happened,
// because the session died between journaling and doing it) counts as
// "absent". Processes are stopped first, so a hung daemon cannot redo what
// we remove; everything else goes in reverse order. An entry leaves the
// journal only once undone, so a failed undo can be retried by the next
// `kvpn down`; the state file goes when the journal is empty.
import { rmSync } from 'node:fs';
import { systemErrorCode } from '../errors.js';
import { stopProcess } from '../host/process-info.js';
import { deleteLease, releaseIfUnused } from '../intercept/index.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { formatCidr, parseCidr } from '../net/cidr.js';
import { findLeftoverRelays, removeLeftoverRelay } from '../relay/deploy.js';
import type { RouteTable } from '../tun/routes.js';
import { removeMount } from '../volumes/index.js';
import { removeExposedService } from './exposed-service.js';
import type { Change, JournalEntry, StateJournal } from './state-journal.js';

export type UndoResult = 'undone' | 'absent' | 'failed' | 'skipped';

export interface UndoOutcome {
  change: Change;
  result: UndoResult;
  /** Human description: "route 10.96.0.0/12 dev kvpn0". */
  what: string;
  detail?: string;
}

export interface UndoDeps {
  routes: RouteTable;
  /** A client for the session's cluster, created on first use; rejects when credentials are unusable. */
  kube(): Promise<KubeClient>;
  /** Restores the resolver from a `dns` entry; resolves false when there was nothing to restore. */
  restoreDns(change: Extract<Change, { kind: 'dns' }>): Promise<boolean>;
  /** True when another live session journaled this link (so it is not ours to delete any more). */
  linkOwnedElsewhere(device: string): boolean;
  /** A live session closes its TUN here (the link goes with the fd). */
  releaseLink?(device: string): Promise<void>;
  /** A live session deletes its relay through its handle; resolves false if nothing was there. */
  removeRelay?(change: Extract<Change, { kind: 'relay' }>): Promise<boolean>;
}

export function describeChange(change: Change): string {
  switch (change.kind) {
    case 'process':
      return `${change.what} (pid ${change.pid})`;
    case 'file':
      return `${change.what} ${change.path}`;
    case 'link':
      return `link ${change.device}`;
    case 'route':
      return `route ${change.destination} dev ${change.device}`;
    case 'dns':
      return `resolver configuration (${change.mode}${change.mode === 'resolvconf' ? ` ${change.resolvConfPath}` : ''})`;
    case 'kube-object':
      return change.what;
    case 'relay':
      return `relay pod, ConfigMap and Secret of session ${change.sessionId} in namespace ${change.namespace}`;
    case 'exposed-service':
      return `exposed Service ${change.namespace}/${change.name}`;
    case 'mount':
      return `volumes mounted at ${change.dir}`;
    case 'intercept':
      return `intercept of Service ${change.namespace}/${change.service}`;
  }
}

async function undoOne(change: Change, deps: UndoDeps): Promise<UndoResult> {
  switch (change.kind) {
    case 'process':
      return (await stopProcess(change.pid, change.startTime)) ? 'undone' : 'absent';
    case 'file':
      try {
        // A file, a socket, or a directory of the session's own files.
        rmSync(change.path, { recursive: true });
        return 'undone';
      } catch (err) {
        if (systemErrorCode(err) === 'ENOENT') return 'absent';
        throw err;
      }
    case 'route': {
      // Compared as prefixes: iproute2 may spell an IPv6 prefix otherwise than the journal does.
      const present = (await deps.routes.listRoutes()).some(
        (r) => r.device === change.device && samePrefix(r.destination, change.destination),
      );
      if (!present) return 'absent';
      await deps.routes.removeRoute(change.destination, change.device);
      return 'undone';
    }
    case 'link': {
      if (deps.linkOwnedElsewhere(change.device)) return 'skipped';
      const existed = await deps.routes.linkExists(change.device);
      await deps.releaseLink?.(change.device);
      if (!existed) return 'absent';
      await deps.routes.deleteLink(change.device);
      return 'undone';
    }
    case 'dns':
      return (await deps.restoreDns(change)) ? 'undone' : 'absent';
    case 'kube-object': {
      const client = await deps.kube();
      try {
        await client.request('DELETE', change.apiPath, { query: { gracePeriodSeconds: 0 } });
        return 'undone';
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return 'absent';
        throw err;
      }
    }
    case 'relay':
      if (deps.removeRelay) return (await deps.removeRelay(change)) ? 'undone' : 'absent';
      return (await sweepRelay(await deps.kube(), change)) ? 'undone' : 'absent';
    case 'exposed-service':
      return (await removeExposedService(await deps.kube(), change.namespace, change.name, change.sessionId))
        ? 'undone'
        : 'absent';
    case 'mount':
      return (await removeMount(change)) ? 'undone' : 'absent';
    case 'intercept': {
      const client = await deps.kube();
      const deleted = await deleteLease(client, change.namespace, change.lease, change.sessionId);
      const released = await releaseIfUnused(client, change.namespace, change.service, change.selector);
      return deleted || released === 'restored' ? 'undone' : 'absent';
    }
  }
}

/**
 * Removes a session's relay found by its labels (pods) and names (ConfigMap,
 * Secret); true if pods were there. Also without pods the ConfigMap and
 * Secret may be there, so they are always deleted.
 */
export async function sweepRelay(client: KubeClient, change: Extract<Change, { kind: 'relay' }>): Promise<boolean> {
  const found = (await findLeftoverRelays(client, { namespace: change.namespace })).find(
    (r) => r.sessionId === change.sessionId,
  );
  await removeLeftoverRelay(
    client,
    found ?? { sessionId: change.sessionId, namespace: change.namespace, owner: '', pods: [] },
  );
  return found !== undefined;
}

/** Undo order: live processes first, then everything else newest first. */
export function undoOrder(entries: readonly JournalEntry[]): JournalEntry[] {
  const newestFirst = [...entries].sort((a, b) => b.seq - a.seq);
  return [
    ...newestFirst.filter((e) => e.change.kind === 'process'),
    ...newestFirst.filter((e) => e.change.kind !== 'process'),
  ];
}

/** Undoes every journaled change; removes the state file when all are gone. */
export async function undoJournal(journal: StateJournal, deps: UndoDeps): Promise<UndoOutcome[]> {
  const outcomes: UndoOutcome[] = [];
  for (const entry of undoOrder(journal.entries)) {
    const what = describeChange(entry.change);
    try {
      const result = await undoOne(entry.change, deps);
      journal.forget(entry);
      outcomes.push({ change: entry.change, result, what });
    } catch (err) {
      outcomes.push({ change: entry.change, result: 'failed', what, detail: (err as Error).message });
    }
  }
  if (journal.entries.length === 0) journal.remove();
  return outcomes;
}

function samePrefix(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return formatCidr(parseCidr(a)) === formatCidr(parseCidr(b));
  } catch {
    return false;
  }
}
