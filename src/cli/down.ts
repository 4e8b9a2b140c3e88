// `kvpn down [--all] [--context C]`: a live daemon is asked to shut down
// and undoes its own changes; a crashed one's state file is undone here
// (as root: kvpn re-runs itself through sudo if needed). Idempotent:
// nothing to do is success. Prints what was cleaned.
import {
  cleanUpLeftovers,
  contextOf,
  findSessions,
  invokingUser,
  isRoot,
  readHandoff,
  resolveDirs,
  type StopReport,
  stopDaemons,
  type UndoOutcome,
} from '../sessions/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';
import { reexecWithSudo } from './privilege.js';
import { UsageError } from './render-error.js';

export interface DownArgs extends GlobalArgs {
  all: boolean;
  context?: string | undefined;
  handoff?: string | undefined;
}

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

function report(io: CliIo): StopReport {
  return {
    stopping: (context) => io.out(`Stopping session ${context}…\n`),
    stopped: (outcomes) => io.out(renderOutcomes(outcomes)),
    stillRunning: (pid) => io.err(`  the daemon (pid ${pid}) is still running after cleanup; it will be stopped.\n`),
    staleSocketRemoved: (context, socket) => io.out(`Session ${context}: stale control socket ${socket} removed.\n`),
    cleanupFailed: (context, err) => io.err(`  cannot clean up session ${context}: ${err.message}\n`),
    cleanedUp: (context, crashed, outcomes) => {
      if (crashed) io.out(`Session ${context} was not running (crashed or killed); cleaning up what it left:\n`);
      if (crashed || outcomes.some((o) => o.result !== 'absent')) io.out(renderOutcomes(outcomes));
    },
  };
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
  const sessions = await findSessions(dirs, args);
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
  const reported = report(io);
  const stopped = await stopDaemons(sessions, reported);
  if (stopped.leftovers.length && !isRoot()) {
    io.err(`Cleaning up after a stopped daemon needs root.\n`);
    return reexecWithSudo(
      'down',
      forwardedArgs(args, dirs),
      'to remove the routes, link and resolver settings a crashed session left',
      io,
    );
  }
  const user = isRoot() ? invokingUser(io.env, handoff) : undefined;
  const cleaned = await cleanUpLeftovers(dirs, stopped.leftovers, user, reported);
  if (stopped.failed || cleaned.failed) {
    io.err(`Some changes could not be undone; they stay recorded, so \`${command} down\` can retry.\n`);
    return EXIT.SYSTEM;
  }
  io.out('Done: nothing from kvpn is left on this machine or in the cluster.\n');
  return EXIT.OK;
}
