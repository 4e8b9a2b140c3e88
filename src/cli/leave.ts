// `kvpn leave NAME [--context C]`: ends one exposure of the running session
// (its Service is deleted; connections still open are reset).
import { askSession, type ExposureStatus, resolveDirs } from '../sessions/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';

export interface LeaveArgs extends GlobalArgs {
  name: string;
  context?: string | undefined;
}

export async function runLeave(args: LeaveArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  const ended = await askSession<ExposureStatus>(
    resolveDirs(args, io.env),
    args.context,
    'leave',
    { name: args.name },
    command,
  );
  io.out(
    `Ended ${ended.name}: Service ${ended.namespace}/${ended.name} deleted after ${ended.connections.accepted} connection(s).\n`,
  );
  return EXIT.OK;
}
