// Stopping sessions for `down`. A live daemon is asked over its control
// socket to shut down, and undoes its own changes. What is left — the state
// file of a session whose daemon crashed or was killed, or what a daemon
// could not undo — is undone here, as root, from the journal. A control
// socket without a state file is only removed. Each step is reported as it
// happens; the CLI decides what to print.
import { existsSync, unlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { callDaemon } from '../control/client.js';
import type { InvokingUser } from '../host/credentials.js';
import { silentLogger } from '../host/log.js';
import type { SessionDirs } from '../host/paths.js';
import { isAlive } from '../host/process-info.js';
import { contextOf, type KnownSession } from '../session/registry.js';
import type { UndoOutcome } from '../session/undo.js';

const SHUTDOWN_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 10_000;

export interface StopReport {
  /** A live daemon is asked to shut down… */
  stopping(context: string): void;
  /** …and says what it undid. */
  stopped(outcomes: UndoOutcome[]): void;
  /** It did not exit after its cleanup (its journal still names it, so the cleanup as root stops it). */
  stillRunning(pid: number): void;
  /** A control socket nothing else was known of. */
  staleSocketRemoved(context: string, socket: string): void;
  /** A state file could not be undone at all. */
  cleanupFailed(context: string, err: Error): void;
  /** What a state file recorded was undone; `crashed`: the session's daemon was not running. */
  cleanedUp(context: string, crashed: boolean, outcomes: UndoOutcome[]): void;
}

export function anyFailed(outcomes: readonly UndoOutcome[]): boolean {
  return outcomes.some((o) => o.result === 'failed');
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(25);
  }
  return !isAlive(pid);
}

/**
 * Asks the live daemon of each session to shut down. Returns what is left
 * for cleanUpLeftovers: the sessions without a live daemon, and those whose
 * state file outlived their daemon's own cleanup.
 */
export async function stopDaemons(
  sessions: readonly KnownSession[],
  report: StopReport,
): Promise<{ failed: boolean; leftovers: KnownSession[] }> {
  let failed = false;
  const leftovers: KnownSession[] = [];
  for (const s of sessions) {
    if (!s.status) {
      leftovers.push(s);
      continue;
    }
    report.stopping(s.status.context);
    const outcomes = await callDaemon<UndoOutcome[]>(s.socket, 'shutdown', undefined, SHUTDOWN_TIMEOUT_MS);
    report.stopped(outcomes);
    failed ||= anyFailed(outcomes);
    if (!(await waitForExit(s.status.pid, EXIT_TIMEOUT_MS))) {
      report.stillRunning(s.status.pid);
      failed = true;
    }
    // Anything the daemon could not undo is still in its state file.
    if (s.statePath && existsSync(s.statePath)) leftovers.push({ ...s, status: undefined });
  }
  return { failed, leftovers };
}

/** Undoes what the leftovers' state files still record (needs root); `user`'s credentials for the cluster. */
export async function cleanUpLeftovers(
  dirs: SessionDirs,
  leftovers: readonly KnownSession[],
  user: InvokingUser | undefined,
  report: StopReport,
): Promise<{ failed: boolean }> {
  let failed = false;
  for (const s of leftovers) {
    if (!s.statePath) {
      report.staleSocketRemoved(contextOf(s), s.socket);
      try {
        unlinkSync(s.socket);
      } catch {}
      continue;
    }
    if (!existsSync(s.statePath)) continue;
    const crashed = s.unreachable !== undefined && s.status === undefined;
    const { cleanupSession } = await import('../session/cleanup.js');
    const outcomes = await cleanupSession(dirs, s.statePath, user, silentLogger).catch((err: unknown) => {
      failed = true;
      report.cleanupFailed(contextOf(s), err as Error);
      return [] as UndoOutcome[];
    });
    report.cleanedUp(contextOf(s), crashed, outcomes);
    failed ||= anyFailed(outcomes);
  }
  return { failed };
}
