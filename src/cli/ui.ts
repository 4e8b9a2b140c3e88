// `kvpn ui [--context C] [--print]`: the session's inspection page. Opens
// it in the user's browser (xdg-open, open) when there is a display, else,
// or with --print, prints its address (which carries the session's secret).
import { spawn } from 'node:child_process';
import { findSessions, resolveDirs } from '../sessions/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';
import { UsageError } from './render-error.js';

export interface UiArgs extends GlobalArgs {
  context?: string | undefined;
  print: boolean;
}

/** The program that opens a URL in the user's browser here, if this machine has a display. */
export function browserOpener(env: NodeJS.ProcessEnv, platform = process.platform): string | undefined {
  if (platform === 'darwin') return 'open';
  if (platform === 'linux' && (env.DISPLAY || env.WAYLAND_DISPLAY)) return 'xdg-open';
  return undefined;
}

export async function runUi(args: UiArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  const dirs = resolveDirs(args, io.env);
  const sessions = (await findSessions(dirs, { context: args.context })).filter((s) => s.status);
  if (sessions.length > 1)
    throw new UsageError('several sessions are running', `Pick one with \`${command} ui --context NAME\`.`);
  const status = sessions[0]?.status;
  if (!status) {
    io.err(
      `No kvpn session is running${args.context ? ` for context "${args.context}"` : ''}. Start one with \`${command} up\`.\n`,
    );
    return EXIT.NO_SESSION;
  }
  if (!status.ui) {
    io.err(
      `The session of context "${status.context}" has no inspection page (it was started with --no-ui, or its port was taken: see \`${command} status\`).\n`,
    );
    return EXIT.NO_SESSION;
  }
  const opener = args.print ? undefined : browserOpener(io.env);
  if (opener) {
    const opened = await new Promise<boolean>((resolve) => {
      const child = spawn(opener, [status.ui?.url ?? ''], { stdio: 'ignore', detached: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    });
    if (opened) {
      io.err(`Opened the inspection page of "${status.context}" in your browser.\n`);
      return EXIT.OK;
    }
  }
  io.out(`${status.ui.url}\n`);
  return EXIT.OK;
}
