// `kvpn down [--all] [--context C]`: a live daemon is asked to shut down
// and undoes its own changes; a crashed one's state file is undone here
// (as root: kvpn re-runs itself through sudo if needed). Idempotent:
// nothing to do is success. Prints what was cleaned.
import { existsSync, unlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { callDaemon } from '../control/client.js';
import { invokingUser } from '../host/credentials.js';
import { silentLogger } from '../host/log.js';
import { resolveDirs } from '../host/paths.js';
import { isAlive } from '../host/process-info.js';
import { contextOf, findSessions, type KnownSession, selectSessions } from '../session/registry.js';
import type { UndoOutcome } from '../session/undo.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';
import { isRoot, readHandoff, reexecWithSudo } from './privilege.js';
import { UsageError } from './render-error.js';

export interface DownArgs extends GlobalArgs {
  all: boolean;
  context?: string | undefined;
  handoff?: string | undefined;
}

const SHUTDOWN_TIMEOUT_MS = 60_000;
const VERBS: Record<UndoOutcome['result'], string> = {
  undone: 'removed',
  absent: 'already gone',
  failed: 'FAILED to remove',
  skipped: 'left in place (now used by another session)',
};

export function renderOutcomes(outcomes: readonly UndoOutcome[]): string {
  return outcomes
    .filter((o) => o.result !== 'absent' || o.change.kind !== 'file')
    .map(
      (o) =>
        `  ${o.result === 'failed' ? '✗' : '✓'} ${VERBS[o.result]}: ${o.what}${o.detail ? ` (${o.detail})` : ''}\n`,
    )
    .join('');
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(25);
  }
  return !isAlive(pid);
}

function forwardedArgs(args: DownArgs, dirs: { stateDir: string; runtimeDir: string }): string[] {
  return [
    ...(args.all ? ['--all'] : []),
    ...(args.context !== undefined ? ['--context', args.context] : []),
    '--state-dir',
    dirs.stateDir,
    '--runtime-dir',
    dirs.runtimeDir,
  ];
}

export async function runDown(args: DownArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  const dirs = resolveDirs(args, io.env);
  const handoff = args.handoff === 'stdin' ? await readHandoff() : undefined;
  const sessions = selectSessions(await findSessions(dirs), args);
  if (!sessions.length) {
    io.out(`No kvpn session${args.context ? ` for context "${args.context}"` : ''} is running; nothing to clean up.\n`);
    return EXIT.OK;
  }
  if (sessions.length > 1 && !args.all && args.context === undefined) {
    throw new UsageError(
      `${sessions.length} sessions are running (${sessions.map(contextOf).join(', ')})`,
      `Pick one with \`${command} down --context NAME\`, or stop all with \`${command} down --all\`.`,
    );
  }
  let failed = false;
  const leftovers: KnownSession[] = [];
  for (const s of sessions) {
    if (!s.status) {
      leftovers.push(s);
      continue;
    }
    io.out(`Stopping session ${s.status.context}…\n`);
    const outcomes = await callDaemon<UndoOutcome[]>(s.socket, 'shutdown', undefined, SHUTDOWN_TIMEOUT_MS);
    io.out(renderOutcomes(outcomes));
    failed ||= outcomes.some((o) => o.result === 'failed');
    if (!(await waitForExit(s.status.pid, 10_000))) {
      io.err(`  the daemon (pid ${s.status.pid}) is still running after cleanup; it will be stopped.\n`);
      failed = true;
    }
    // Anything the daemon could not undo is still in its state file.
    if (s.statePath && existsSync(s.statePath)) leftovers.push({ ...s, status: undefined });
  }
  if (leftovers.length && !isRoot()) {
    io.err(`Cleaning up after a stopped daemon needs root.\n`);
    return reexecWithSudo(
      'down',
      forwardedArgs(args, dirs),
      'to remove the routes, link and resolver settings a crashed session left',
      io,
    );
  }
  const user = isRoot() ? invokingUser(io.env, handoff) : undefined;
  for (const s of leftovers) {
    if (!s.statePath) {
      io.out(`Session ${contextOf(s)}: stale control socket ${s.socket} removed.\n`);
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
      io.err(`  cannot clean up session ${contextOf(s)}: ${(err as Error).message}\n`);
      return [] as UndoOutcome[];
    });
    const done = outcomes.filter((o) => o.result !== 'absent');
    if (crashed) io.out(`Session ${contextOf(s)} was not running (crashed or killed); cleaning up what it left:\n`);
    if (crashed || done.length) io.out(renderOutcomes(outcomes));
    failed ||= outcomes.some((o) => o.result === 'failed');
  }
  if (failed) {
    io.err(`Some changes could not be undone; they stay recorded, so \`${command} down\` can retry.\n`);
    return EXIT.SYSTEM;
  }
  io.out('Done: nothing from kvpn is left on this machine or in the cluster.\n');
  return EXIT.OK;
}
