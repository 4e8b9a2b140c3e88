// Starting a session for `up`: the check that runs as the invoking user
// before sudo, then — as root — the session in a daemon or in this process.
// The session module and the Kubernetes client are imported only here, and
// only when used: `status` and `down` never load them.
import { isAbsolute, resolve } from 'node:path';
import { bootLogPath, InterruptedError, launchDaemon } from '../daemon/launch.js';
import { type InvokingUser, userKubeconfigPaths } from '../host/credentials.js';
import { sessionLogger } from '../host/log.js';
import type { SessionDirs } from '../host/paths.js';
import type { Session } from '../session/session.js';
import type { KubeTargetOptions } from '../session/session-client.js';
import type { DnsMode, ProgressEvent, SessionOptions, SessionSummary } from '../session/types.js';
import type { UndoOutcome } from '../session/undo.js';

/** What `up` asks for, as the command line said it. */
export interface StartRequest extends KubeTargetOptions {
  dirs: SessionDirs;
  alsoProxy: string[];
  neverProxy: string[];
  relayImage?: string | undefined;
  dns: DnsMode;
  dnsReplaceSymlink: boolean;
  allowConflictingRoutes: boolean;
  tunName?: string | undefined;
  mtu?: number | undefined;
  noUi?: boolean | undefined;
  uiPort?: number | undefined;
  carrier?: 'h2' | 'mux' | undefined;
}

export interface StartHooks {
  env: NodeJS.ProcessEnv;
  onProgress?: (event: ProgressEvent) => void;
  /** A crashed earlier session for the same context was cleaned up first. */
  onPreviousCleaned?: (outcomes: UndoOutcome[]) => void;
}

export interface ForegroundHooks extends StartHooks {
  onReady(summary: SessionSummary): void;
  /** SIGINT or SIGTERM arrived while up: the session is closing. */
  onDisconnecting(): void;
  /** The session's log lines, with KVPN_LOG_LEVEL=debug (they also go to its log file). */
  onDebugLog?: (line: string) => void;
}

/** A `:`-separated kubeconfig list made absolute (the daemon runs in `/`). */
export function absoluteKubeconfig(list: string | undefined): string | undefined {
  return list
    ?.split(':')
    .filter(Boolean)
    .map((p) => (isAbsolute(p) ? p : resolve(p)))
    .join(':');
}

/**
 * Fails fast, as the invoking user, on what sudo cannot fix: kubeconfig,
 * context, credentials, reachability. Reads the kubeconfig once, in this
 * process; the root session reads it again in its own.
 */
export async function preflight(target: KubeTargetOptions): Promise<void> {
  const { loadKubeconfig, probeApi } = await import('../session/session-client.js');
  const { client } = loadKubeconfig(target);
  try {
    await probeApi(client);
  } finally {
    client.close();
  }
}

/** The session's options, as root: the kubeconfig files the user would load; the user owns the control socket. */
function sessionOptions(request: StartRequest, user: InvokingUser | undefined): SessionOptions {
  const { dirs, kubeconfig, ...rest } = request;
  return {
    ...rest,
    kubeconfig: user ? userKubeconfigPaths(user, kubeconfig).join(':') : absoluteKubeconfig(kubeconfig),
    stateDir: dirs.stateDir,
    runtimeDir: dirs.runtimeDir,
    owner: user ? { uid: user.uid, gid: user.gid } : undefined,
  };
}

/** Starts the session in a daemon; resolves with its summary once it is up. Ctrl-C meanwhile aborts it. */
export function startDaemon(
  request: StartRequest,
  user: InvokingUser | undefined,
  hooks: StartHooks,
): Promise<SessionSummary> {
  return launchDaemon({
    options: sessionOptions(request, user),
    user,
    bootLog: bootLogPath(request.dirs.stateDir),
    env: hooks.env,
    onProgress: hooks.onProgress,
    onPreviousCleaned: hooks.onPreviousCleaned,
  });
}

/**
 * Runs the session in this process (`up --foreground`) until SIGINT or
 * SIGTERM, or `kvpn down` from elsewhere through its control socket; resolves
 * with what closing it undid. A signal during the start aborts it
 * (InterruptedError, after undoing what was done).
 */
export async function runForeground(
  request: StartRequest,
  user: InvokingUser | undefined,
  hooks: ForegroundHooks,
): Promise<{ summary: SessionSummary; outcomes: UndoOutcome[] }> {
  const options = sessionOptions(request, user);
  const { Session } = await import('../session/session.js');
  const abort = new AbortController();
  let session: Session | undefined;
  let signalled = false;
  const onSignal = () => {
    signalled = true;
    if (session) {
      hooks.onDisconnecting();
      void session.close();
    } else abort.abort(new InterruptedError());
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // The log goes where a daemon's would (kvpn logs finds it).
    const debug = hooks.env.KVPN_LOG_LEVEL === 'debug';
    const log = sessionLogger(debug ? 'debug' : 'info', debug ? hooks.onDebugLog : undefined);
    try {
      session = await Session.start(options, {
        log,
        user,
        signal: abort.signal,
        onProgress: hooks.onProgress,
        onPreviousCleaned: hooks.onPreviousCleaned,
      });
    } catch (err) {
      if (signalled) throw new InterruptedError();
      throw err;
    }
    hooks.onReady(session.summary());
    const outcomes = await session.closed;
    return { summary: session.summary(), outcomes };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
