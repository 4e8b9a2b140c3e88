// `kvpn up --foreground`: the session runs in this process (no daemon). It
// still serves the control socket, so `status` and `down` work from another
// terminal; Ctrl-C or SIGTERM disconnects and undoes everything.

import { InterruptedError } from '../daemon/launch.js';
import type { InvokingUser } from '../host/credentials.js';
import { sessionLogger } from '../host/log.js';
import { Session } from '../session/session.js';
import type { SessionOptions } from '../session/types.js';
import type { UndoOutcome } from '../session/undo.js';
import { renderOutcomes } from './down.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';
import { progressPrinter, renderSummary } from './progress.js';

export async function runForeground(
  options: SessionOptions,
  user: InvokingUser | undefined,
  io: CliIo,
  command: string,
  onPreviousCleaned?: (outcomes: UndoOutcome[]) => void,
): Promise<number> {
  const abort = new AbortController();
  let session: Session | undefined;
  let signalled = false;
  const onSignal = () => {
    signalled = true;
    if (session) {
      io.err('\nDisconnecting…\n');
      void session.close();
    } else abort.abort(new InterruptedError());
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // The log goes where a daemon's would (kvpn logs finds it); KVPN_LOG_LEVEL=debug also echoes it here.
    const debug = io.env.KVPN_LOG_LEVEL === 'debug';
    const log = sessionLogger(debug ? 'debug' : 'info', debug ? (line) => io.err(line) : undefined);
    try {
      session = await Session.start(options, {
        log,
        user,
        signal: abort.signal,
        onProgress: progressPrinter(io),
        onPreviousCleaned,
      });
    } catch (err) {
      if (signalled) throw new InterruptedError();
      throw err;
    }
    io.out(renderSummary(session.summary(), command, true));
    const outcomes = await session.closed;
    io.out(`Disconnected from ${session.summary().context}:\n${renderOutcomes(outcomes)}`);
    return outcomes.some((o) => o.result === 'failed') ? EXIT.SYSTEM : EXIT.OK;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
