// Starting a daemon from the CLI: spawn it detached (its own process group,
// so the terminal's Ctrl-C does not reach it), log to the session's file,
// pass the options over IPC and relay its progress until it is ready or
// failed. Ctrl-C in the CLI during the start asks the daemon to abort; it
// undoes what it did and exits.
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RemoteError } from '../control/client.js';
import { KvpnError } from '../errors.js';
import type { InvokingUser } from '../host/credentials.js';
import { nodeModuleCommand } from '../host/self-command.js';
import type { ProgressEvent, SessionOptions, SessionSummary } from '../session/types.js';
import type { UndoOutcome } from '../session/undo.js';
import type { DaemonMessage, DaemonRequest } from './main.js';

export class InterruptedError extends KvpnError {
  constructor() {
    super('KVPN_ERR_INTERRUPTED', 'user', 'interrupted; the session was stopped and everything it did was undone', {
      remedy: 'Run `kvpn up` again when ready.',
    });
  }
}

export class DaemonCrashedError extends KvpnError {
  constructor(code: number | null, signal: string | null, logFile: string, offset = 0) {
    let tail = '';
    try {
      tail = readFileSync(logFile).subarray(offset).toString('utf8').trim().split('\n').slice(-5).join('\n    ');
    } catch {}
    super(
      'KVPN_ERR_DAEMON_CRASHED',
      'internal',
      `the kvpn daemon exited during start (${signal ?? `exit code ${code}`})${tail ? `; last log lines:\n    ${tail}` : ''}`,
      { remedy: `See the full log in ${logFile}; \`kvpn down\` removes anything it left.` },
    );
  }
}

export interface LaunchOptions {
  options: SessionOptions;
  user?: InvokingUser | undefined;
  /** The daemon's stdout/stderr: crash output and the log of a start that failed early. */
  bootLog: string;
  env?: NodeJS.ProcessEnv;
  onProgress?: (event: ProgressEvent) => void;
  onPreviousCleaned?: (outcomes: UndoOutcome[]) => void;
}

/**
 * Node flags for the daemon process (figures: 10,000 connections held through
 * a TUN, the stack and the tunnel to a local relay).
 * --max-semi-space-size=8: V8's young generation grows to two 16 MiB
 *   semi-spaces under traffic and stays there; two 8 MiB ones keep 16 MiB
 *   less resident (hold peak 174 instead of 194 MiB) for ~3 % more CPU per
 *   GiB in bulk transfers (within this machine's run-to-run spread).
 * --heap-growing-percent=100: after a full collection the old generation may
 *   double before the next one. V8's own factor falls as low as 1.1–1.7 once
 *   collections are frequent, and a bulk transfer's short-lived buffers
 *   (64 KiB each, ~3 per 64 KiB moved) then start a full mark-compact every
 *   ~50 ms. One stream through the tunnel, 15 s: 240–310 mark-compacts and
 *   4.8–5.5 CPU s/GiB in the client without this flag, 4–8 and 2.0–2.4 with it.
 * --expose-gc: the memory janitor (memory-janitor.ts) collects after a burst
 *   (connections closed, bulk traffic over); V8 alone would not while the
 *   daemon is idle.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=8',
  '--heap-growing-percent=100',
  '--expose-gc',
];

/** The boot log in a state dir: one file for every daemon, appended. */
export function bootLogPath(stateDir: string): string {
  return join(stateDir, 'logs', 'daemon-boot.log');
}

export async function launchDaemon(launch: LaunchOptions): Promise<SessionSummary> {
  mkdirSync(dirname(launch.bootLog), { recursive: true, mode: 0o700 });
  const logFd = openSync(launch.bootLog, 'a', 0o600);
  const offset = fstatSync(logFd).size;
  const cmd = nodeModuleCommand('../daemon/main.js');
  const child = spawn(cmd.command, [...DAEMON_NODE_FLAGS, ...cmd.args], {
    detached: true,
    stdio: ['ignore', logFd, logFd, 'ipc'],
    env: launch.env ?? process.env,
    cwd: '/',
  });
  closeSync(logFd);
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    child.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await new Promise<SessionSummary>((resolve, reject) => {
      child.on('message', (raw) => {
        const message = raw as DaemonMessage;
        if (message.type === 'progress') launch.onProgress?.(message.event);
        else if (message.type === 'cleaned') launch.onPreviousCleaned?.(message.outcomes);
        else if (message.type === 'ready') resolve(message.summary);
        else if (message.type === 'failed') {
          const e = message.error;
          reject(interrupted ? new InterruptedError() : new RemoteError(e.code, e.category, e.message, e.remedy));
        }
      });
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        reject(interrupted ? new InterruptedError() : new DaemonCrashedError(code, signal, launch.bootLog, offset)),
      );
      const request: DaemonRequest = { type: 'start', options: launch.options, user: launch.user };
      child.send(request);
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (child.connected) child.disconnect();
    child.unref();
  }
}
