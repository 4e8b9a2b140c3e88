// `kvpn logs [--context C] [--follow] [--path]`: the daemon's log file.
// Its path comes from the daemon (status) or the state file; the log is
// kept after `down` for post-mortems, so a crashed session's log is found
// in the logs directory by its session id too.
import { createReadStream, statSync, watch } from 'node:fs';
import { findSessions, logFileOf, resolveDirs } from '../sessions/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';
import { UsageError } from './render-error.js';

export interface LogsArgs extends GlobalArgs {
  context?: string | undefined;
  follow: boolean;
  path: boolean;
}

async function printFrom(path: string, start: number, io: CliIo): Promise<number> {
  let position = start;
  for await (const chunk of createReadStream(path, { start })) {
    io.out(chunk.toString());
    position += (chunk as Buffer).length;
  }
  return position;
}

export async function runLogs(args: LogsArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  const dirs = resolveDirs(args, io.env);
  const sessions = await findSessions(dirs, { context: args.context });
  if (sessions.length > 1) {
    throw new UsageError('several sessions are running', `Pick one with \`${command} logs --context NAME\`.`);
  }
  const path = logFileOf(dirs, sessions[0], args.context);
  if (!path) {
    io.err(
      `No kvpn session${args.context ? ` for context "${args.context}"` : ''} found; pass --context for a stopped one.\n`,
    );
    return EXIT.NO_SESSION;
  }
  if (args.path) {
    io.out(`${path}\n`);
    return EXIT.OK;
  }
  let position = await printFrom(path, 0, io);
  if (!args.follow) return EXIT.OK;
  await new Promise<void>((resolve) => {
    const watcher = watch(path, () => {
      const size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
      if (size < position) position = 0;
      if (size > position) void printFrom(path, position, io).then((p) => (position = p));
    });
    process.once('SIGINT', () => {
      watcher.close();
      resolve();
    });
  });
  return EXIT.OK;
}
