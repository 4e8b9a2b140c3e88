// `kvpn leave NAME [--context C]`: ends one exposure (its Service is deleted)
// or intercept (its Service is restored when no one else intercepts it) of the
// running session; connections still open are reset.
import { askSession, type ExposureStatus, type InterceptStatus, resolveDirs } from '../sessions/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';

export interface LeaveArgs extends GlobalArgs {
  name: string;
  context?: string | undefined;
}

export async function runLeave(args: LeaveArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  const ended = await askSession<ExposureStatus | InterceptStatus>(
    resolveDirs(args, io.env),
    args.context,
    'leave',
    { name: args.name },
    command,
  );
  if ('servicePort' in ended)
    io.out(
      `Ended intercept ${ended.name}: ${ended.routed.toLaptop} request(s) reached this machine; Service ${ended.namespace}/${ended.service} serves its pods again.\n`,
    );
  else
    io.out(
      `Ended ${ended.name}: Service ${ended.namespace}/${ended.name} deleted after ${ended.connections.accepted} connection(s).\n`,
    );
  return EXIT.OK;
}
