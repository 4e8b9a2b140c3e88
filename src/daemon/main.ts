// The session daemon: a thin shell around Session. Started detached by
// `kvpn up` with its stdout/stderr on a boot log (the session log file is
// only known once the kubeconfig is read) and an IPC channel to
// the CLI: it receives the options, reports each progress step, then
// "ready" with the summary (or "failed" with the error, after undoing
// whatever it had done), and the CLI disconnects. SIGTERM, SIGINT, SIGHUP
// and the control socket's "shutdown" all stop the session gracefully;
// losing the CLI before "ready" aborts the start. While it runs, a memory
// janitor collects garbage after bursts (memory-janitor.ts).
import { KvpnError } from '../errors.js';
import type { InvokingUser } from '../host/credentials.js';
import { sessionLogger } from '../host/log.js';
import { Session } from '../session/session.js';
import type { ProgressEvent, SessionOptions, SessionSummary } from '../session/types.js';
import type { UndoOutcome } from '../session/undo.js';
import { startMemoryJanitor } from './memory-janitor.js';
import { trimNativeHeap } from './native-heap.js';

export type DaemonRequest = { type: 'start'; options: SessionOptions; user?: InvokingUser | undefined };
export type DaemonMessage =
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'cleaned'; outcomes: UndoOutcome[] }
  | { type: 'ready'; summary: SessionSummary }
  | { type: 'failed'; error: { code: string; category: string; message: string; remedy?: string } };

function send(message: DaemonMessage): void {
  if (process.connected) process.send?.(message);
}

function errorInfo(err: unknown): Extract<DaemonMessage, { type: 'failed' }>['error'] {
  if (err instanceof KvpnError) {
    return {
      code: err.code,
      category: err.category,
      message: err.message,
      ...(err.remedy ? { remedy: err.remedy } : {}),
    };
  }
  return { code: 'KVPN_ERR_INTERNAL', category: 'internal', message: (err as Error)?.message ?? String(err) };
}

async function main(): Promise<void> {
  // Lines go to the session's log file once the session knows it; until then (and if it
  // never does) they wait, and a failed start flushes them to stderr (the boot log).
  const log = sessionLogger(process.env.KVPN_LOG_LEVEL === 'debug' ? 'debug' : 'info');
  const abort = new AbortController();
  let session: Session | undefined;
  const stop = (why: string) => {
    log.info(`stopping: ${why}`);
    if (session) void session.close();
    else abort.abort(new Error(why));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => stop('SIGHUP'));
  process.on('disconnect', () => {
    if (!session) stop('the kvpn CLI went away before the session was ready');
  });
  process.on('uncaughtException', (err) => {
    log.error('uncaught exception', { error: err.stack ?? err.message });
    process.stderr.write(`uncaught exception: ${err.stack ?? err.message}\n`);
    void (session?.close() ?? Promise.resolve()).finally(() => process.exit(70));
  });

  const request = await new Promise<DaemonRequest>((resolve) => {
    process.once('message', (m) => resolve(m as DaemonRequest));
  });
  process.title = `kvpn daemon ${request.options.context ?? ''}`.trim();
  log.info('daemon starting', { pid: process.pid, context: request.options.context });
  try {
    session = await Session.start(
      { ...request.options, journalProcess: true },
      {
        log,
        user: request.user,
        signal: abort.signal,
        onProgress: (event) => send({ type: 'progress', event }),
        onPreviousCleaned: (outcomes) => send({ type: 'cleaned', outcomes }),
      },
    );
  } catch (err) {
    log.error('start failed', { error: err as Error, code: (err as KvpnError).code });
    log.flushTo((line: string) => process.stderr.write(line));
    send({ type: 'failed', error: errorInfo(err) });
    process.disconnect?.();
    process.exitCode = 1;
    return;
  }
  send({ type: 'ready', summary: session.summary() });
  process.disconnect?.();
  const running = session;
  // The daemon runs with --expose-gc (DAEMON_NODE_FLAGS) so it can give memory back after a burst.
  const gc = (globalThis as { gc?: () => void }).gc;
  const stopJanitor = gc
    ? startMemoryJanitor({
        sample: () => {
          const t = running.status().traffic;
          return { open: t.tcpOpen + t.udpFlows, bytes: t.bytesToCluster + t.bytesFromCluster };
        },
        // Twice: the second collection releases the pages the first left fragmented
        // (after 10,000 closed: 205 MiB resident with one, 143 with two, 45 ms in all).
        // Then glibc gives the freed C heap back (after bulk: 82 -> 4 MiB, ~5 ms).
        collect: () => {
          gc();
          gc();
          trimNativeHeap();
        },
        onCollect: ({ reason, open, ms, heapBefore, heapAfter }) =>
          log.info('memory: collected', {
            reason,
            open,
            ms: Math.round(ms),
            heapMiB: `${Math.round(heapBefore / 2 ** 20)}->${Math.round(heapAfter / 2 ** 20)}`,
          }),
      })
    : undefined;
  await session.closed;
  stopJanitor?.();
  log.info('daemon exiting');
  // Timers of closed components are gone; anything left must not keep us alive.
  setTimeout(() => process.exit(0), 1000).unref();
}

await main();
