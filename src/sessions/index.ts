// The CLI's one way in: what kvpn does with the sessions of this machine,
// without printing. The CLI parses, prints and picks exit codes; the rest
// is here or below.
//
//   up:      preflight (as the user) ─► findSudo + rerunAsRoot (environment handed over on stdin)
//            ─► as root: invokingUser ─► startDaemon (a detached daemon) | runForeground (this process)
//   status:  findSessions ─► each daemon answers on its control socket; a crashed one left its state file
//   down:    findSessions ─► stopDaemons (each undoes its own changes) ─► cleanUpLeftovers (as root,
//            from the state files of crashed sessions)
//   logs:    findSessions ─► logFileOf
//
// Modules that load the Kubernetes client or the session's machinery are
// imported only by the functions that need them.
import { existsSync } from 'node:fs';
import { callDaemon } from '../control/client.js';
import { KvpnError } from '../errors.js';
import { type SessionDirs, sessionId, sessionPaths } from '../host/paths.js';
import { contextOf, findSessions as findAllSessions, type KnownSession, selectSessions } from '../session/registry.js';

export { InterruptedError } from '../daemon/launch.js';
export { execCredential, invokingUser } from '../host/credentials.js';
export { resolveDirs, type SessionDirs } from '../host/paths.js';
export { selfCommand } from '../host/self-command.js';
export type { ExposeRequest } from '../session/exposures.js';
export { contextOf, type KnownSession } from '../session/registry.js';
export type { ExposureStatus, InterceptStatus, MountStatus } from '../session/types.js';
export {
  type DnsMode,
  type ProgressEvent,
  type SessionStatus,
  type SessionSummary,
  STEP_TITLES,
} from '../session/types.js';
export type { UndoOutcome } from '../session/undo.js';
export { findSudo, isRoot, readHandoff, rerunAsRoot } from './privilege.js';
export { absoluteKubeconfig, preflight, runForeground, type StartRequest, startDaemon } from './start.js';
export { anyFailed, cleanUpLeftovers, type StopReport, stopDaemons } from './stop.js';

/**
 * The sessions a command applies to — one context's, all, or every one
 * found — each asked for its status (a live daemon answers; a crashed one
 * is known by its state file, readable by root).
 */
export async function findSessions(
  dirs: SessionDirs,
  selection: { context?: string | undefined; all?: boolean | undefined } = {},
): Promise<KnownSession[]> {
  return selectSessions(await findAllSessions(dirs), selection);
}

/**
 * A session's log file: from its daemon or its state file; for a stopped
 * one (the log outlives `down`, for post-mortems), by its context's id.
 */
export function logFileOf(dirs: SessionDirs, session: KnownSession | undefined, context?: string): string | undefined {
  const known = session?.status?.logFile ?? session?.state?.logFile;
  if (known || context === undefined) return known;
  const candidate = sessionPaths(dirs, sessionId(context)).logFile;
  return existsSync(candidate) ? candidate : undefined;
}

export class NoSessionError extends KvpnError {
  constructor(context: string | undefined, running: string[], command: string) {
    const several = context === undefined && running.length > 1;
    super(
      'KVPN_ERR_NO_SESSION',
      'user',
      several
        ? `several kvpn sessions are running (${running.join(', ')}): say which one`
        : `no kvpn session is running${context ? ` for context "${context}"` : ''}`,
      {
        remedy: several
          ? `Add --context, e.g. --context ${running[0]}.`
          : `Start one with \`${command} up${context ? ` --context ${context}` : ''}\`.`,
      },
    );
  }
}

/** Asks the live session of `context` (or the only live one) to do `method`. */
export async function askSession<T>(
  dirs: SessionDirs,
  context: string | undefined,
  method: 'expose' | 'intercept' | 'leave' | 'mount' | 'unmount',
  params: Record<string, unknown>,
  command = 'kvpn',
): Promise<T> {
  const live = (await findSessions(dirs, { context })).filter((s) => s.status && s.status.state !== 'stopping');
  if (live.length !== 1)
    throw new NoSessionError(
      context,
      live.map((s) => contextOf(s)),
      command,
    );
  return callDaemon<T>((live[0] as KnownSession).socket, method, params);
}
