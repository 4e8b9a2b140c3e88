// Finding sessions: live ones answer on a control socket in the runtime
// dir; crashed ones left a state file (readable by root only) whose daemon
// is gone. `status`, `down` and `logs` all start here.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { callDaemon } from '../control/client.js';
import { type SessionDirs, sessionsDir } from '../host/paths.js';
import { isAlive } from '../host/process-info.js';
import { listStates, type SessionState } from './state-journal.js';
import type { SessionStatus } from './types.js';

export interface KnownSession {
  id: string;
  socket: string;
  /** The daemon's answer, when it answered. */
  status?: SessionStatus;
  /** The state file, when readable (root). */
  state?: SessionState;
  statePath?: string;
  /** Why the daemon did not answer. */
  unreachable?: Error;
}

export function daemonPid(state: SessionState): { pid: number; startTime?: string | undefined } | undefined {
  for (const e of state.changes) if (e.change.kind === 'process') return e.change;
  return undefined;
}

/** True when the process that ran the session is gone: it crashed, was killed, or failed to undo everything. */
export function isStale(state: SessionState): boolean {
  return !isAlive(state.ownerPid, state.ownerStart);
}

export async function findSessions(dirs: SessionDirs): Promise<KnownSession[]> {
  const byId = new Map<string, KnownSession>();
  for (const entry of listStates(sessionsDir(dirs))) {
    if (!entry.state) continue;
    byId.set(entry.state.id, {
      id: entry.state.id,
      socket: entry.state.socket,
      state: entry.state,
      statePath: entry.path,
    });
  }
  let sockets: string[] = [];
  try {
    sockets = readdirSync(dirs.runtimeDir).filter((n) => n.endsWith('.sock'));
  } catch {}
  for (const name of sockets) {
    const id = name.slice(0, -'.sock'.length);
    if (!byId.has(id)) byId.set(id, { id, socket: join(dirs.runtimeDir, name) });
  }
  const sessions = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  await Promise.all(
    sessions.map(async (s) => {
      if (s.state && isStale(s.state)) {
        s.unreachable = new Error('the daemon is not running');
        return;
      }
      try {
        s.status = await callDaemon<SessionStatus>(s.socket, 'status', undefined, 5000);
      } catch (err) {
        s.unreachable = err as Error;
      }
    }),
  );
  return sessions;
}

/** The sessions a command applies to: one context, all, or the only one. */
export function selectSessions(
  sessions: KnownSession[],
  options: { context?: string | undefined; all?: boolean | undefined },
): KnownSession[] {
  if (options.all) return sessions;
  if (options.context !== undefined) {
    return sessions.filter((s) => (s.status?.context ?? s.state?.context) === options.context);
  }
  return sessions;
}

export function contextOf(s: KnownSession): string {
  return s.status?.context ?? s.state?.context ?? s.id;
}
