// What undoing a journal needs from the outside world: the route table of
// the right network namespace, a Kubernetes client with the invoking user's
// credentials (created only if a cluster object must be deleted), the
// resolver restore, and the list of links other live sessions own.

import { enableCredentialOverlay, type InvokingUser } from '../host/credentials.js';
import type { Logger } from '../host/log.js';
import { type SessionDirs, sessionPaths, sessionsDir } from '../host/paths.js';
import { KubeClient } from '../kube/client.js';
import { routeTable } from '../tun/routes.js';
import { restoreResolver } from './dns-restore.js';
import { isStale } from './registry.js';
import { listStates, type SessionState, StateJournal } from './state-journal.js';
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

export async function cleanupDeps(
  dirs: SessionDirs,
  state: SessionState,
  user: InvokingUser | undefined,
  log: Logger,
): Promise<UndoDeps & { close(): void }> {
  const routes = await routeTable(state.netns ? { netns: state.netns } : {});
  let client: KubeClient | undefined;
  return {
    routes,
    async kube() {
      if (client) return client;
      let kubeconfig = state.kubeconfig;
      if (user) {
        // Load once from the files only, to learn the context's user entry.
        const plain = KubeClient.load({ kubeconfig, context: state.context, namespace: state.namespace });
        const userPaths = (kubeconfig ?? '').split(':').filter(Boolean);
        if (plain.userName) {
          kubeconfig = enableCredentialOverlay(
            sessionPaths(dirs, state.id).sessionDir,
            user,
            userPaths,
            state.context,
            plain.userName,
          );
        }
        plain.close();
      }
      client = KubeClient.load({ kubeconfig, context: state.context, namespace: state.namespace });
      return client;
    },
    restoreDns: (change) => restoreResolver(change, log),
    linkOwnedElsewhere: (device) => linksOfLiveSessions(dirs, state.id).has(device),
    close() {
      client?.close();
    },
  };
}

/** Undoes everything a (crashed or stopped) session's state file still records. */
export async function cleanupSession(
  dirs: SessionDirs,
  statePath: string,
  user: InvokingUser | undefined,
  log: Logger,
): Promise<UndoOutcome[]> {
  const journal = StateJournal.open(statePath);
  const deps = await cleanupDeps(dirs, journal.state, user, log);
  try {
    const outcomes = await undoJournal(journal, deps);
    for (const o of outcomes) log.info(`cleanup: ${o.result} ${o.what}`, o.detail ? { detail: o.detail } : {});
    return outcomes;
  } finally {
    deps.close();
  }
}
