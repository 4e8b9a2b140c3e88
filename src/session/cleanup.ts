// What undoing a journal needs from the outside world: the route table of
// the right network namespace, a Kubernetes client with the invoking user's
// credentials (created only if a cluster object must be deleted), the
// resolver restore, and the list of links other live sessions own. Also the
// session lock: a start first cleans up what a crashed session left.

import { KvpnError } from '../errors.js';
import type { InvokingUser } from '../host/credentials.js';
import type { Logger } from '../host/log.js';
import { type SessionDirs, sessionsDir } from '../host/paths.js';
import type { KubeClient } from '../kube/client.js';
import { routeTable } from '../tun/routes.js';
import { restoreResolver } from './dns-restore.js';
import { isStale } from './registry.js';
import { asInvokingUser, type LoadedKubeconfig, loadKubeconfig } from './session-client.js';
import { listStates, SessionExistsError, type SessionFacts, type SessionState, StateJournal } from './state-journal.js';
import { type UndoDeps, type UndoOutcome, undoJournal } from './undo.js';

/** Links journaled by other sessions whose daemons still run. */
export function linksOfLiveSessions(dirs: SessionDirs, exceptId: string): Set<string> {
  const links = new Set<string>();
  for (const { state } of listStates(sessionsDir(dirs))) {
    if (!state || state.id === exceptId || isStale(state)) continue;
    for (const e of state.changes) if (e.change.kind === 'link') links.add(e.change.device);
  }
  return links;
}

/**
 * `loaded`: the kubeconfig this process has already read (a starting
 * session's); used instead of reading the files again when the state names
 * the same files and context (undo names its namespaces itself).
 */
export async function cleanupDeps(
  dirs: SessionDirs,
  state: SessionState,
  user: InvokingUser | undefined,
  log: Logger,
  loaded?: LoadedKubeconfig,
): Promise<UndoDeps & { close(): void }> {
  const routes = await routeTable(state.netns ? { netns: state.netns } : {});
  let client: KubeClient | undefined;
  return {
    routes,
    async kube() {
      if (client) return client;
      const same = loaded && loaded.kubeconfig === state.kubeconfig && loaded.client.contextName === state.context;
      const source = same
        ? loaded
        : loadKubeconfig({ kubeconfig: state.kubeconfig, context: state.context, namespace: state.namespace });
      client = asInvokingUser(source, user);
      return client;
    },
    restoreDns: (change) => restoreResolver(change, log),
    linkOwnedElsewhere: (device) => linksOfLiveSessions(dirs, state.id).has(device),
    close() {
      // Without the overlay, the client is the one the starting session goes on with.
      if (client !== loaded?.client) client?.close();
    },
  };
}

/** Undoes everything a (crashed or stopped) session's state file still records. */
export async function cleanupSession(
  dirs: SessionDirs,
  statePath: string,
  user: InvokingUser | undefined,
  log: Logger,
  loaded?: LoadedKubeconfig,
): Promise<UndoOutcome[]> {
  const journal = StateJournal.open(statePath);
  const deps = await cleanupDeps(dirs, journal.state, user, log, loaded);
  try {
    const outcomes = await undoJournal(journal, deps);
    for (const o of outcomes) log.info(`cleanup: ${o.result} ${o.what}`, o.detail ? { detail: o.detail } : {});
    return outcomes;
  } finally {
    deps.close();
  }
}

/** Creates the state file (the session's lock); a crashed earlier session of this context is cleaned up first. */
export async function takeLock(
  dirs: SessionDirs,
  stateFile: string,
  loaded: LoadedKubeconfig,
  hooks: { log: Logger; user?: InvokingUser | undefined; onPreviousCleaned?: (outcomes: UndoOutcome[]) => void },
  facts: SessionFacts,
): Promise<StateJournal> {
  try {
    return StateJournal.create(stateFile, facts);
  } catch (err) {
    if (!(err instanceof SessionExistsError) || !err.existing || !isStale(err.existing)) throw err;
  }
  hooks.log.warn('a previous session of this context did not stop cleanly; cleaning up what it left');
  const outcomes = await cleanupSession(dirs, stateFile, hooks.user, hooks.log, loaded);
  hooks.onPreviousCleaned?.(outcomes);
  if (outcomes.some((o) => o.result === 'failed')) {
    throw new KvpnError(
      'KVPN_ERR_CLEANUP_FAILED',
      'system',
      `what the previous session for context "${facts.context}" left could not all be removed`,
      { remedy: 'Run `kvpn down` and follow what it says.' },
    );
  }
  return StateJournal.create(stateFile, facts);
}
