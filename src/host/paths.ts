// Where a session keeps its files. The state dir holds what must survive a
// crash (the journal of changes, the resolver backup, the daemon log); the
// runtime dir holds the control sockets. Both are configurable (flags or
// KVPN_STATE_DIR / KVPN_RUNTIME_DIR) so tests in namespaces don't collide.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

export const DEFAULT_STATE_DIR_ROOT = '/var/lib/kvpn';
export const DEFAULT_RUNTIME_DIR_ROOT = '/run/kvpn';

export interface DirOptions {
  stateDir?: string | undefined;
  runtimeDir?: string | undefined;
}

export interface SessionDirs {
  stateDir: string;
  runtimeDir: string;
}

/** The daemon always runs as root, so every user looks in the same default places. */
export function resolveDirs(options: DirOptions = {}, env: NodeJS.ProcessEnv = process.env): SessionDirs {
  const stateDir = options.stateDir ?? env.KVPN_STATE_DIR ?? DEFAULT_STATE_DIR_ROOT;
  const runtimeDir = options.runtimeDir ?? env.KVPN_RUNTIME_DIR ?? DEFAULT_RUNTIME_DIR_ROOT;
  return { stateDir: resolve(stateDir), runtimeDir: resolve(runtimeDir) };
}

/**
 * An id for a context on this machine, usable as a file name, in a unix socket path (108
 * bytes) and in Kubernetes object names and labels (the relay's): the
 * readable part of the name plus a hash, [a-z0-9-], at most 39 characters.
 * The hash covers the host name too: two developers whose contexts are both
 * "staging" must not share (and delete) each other's relay in the cluster.
 */
export function sessionId(context: string, machine: string = hostname()): string {
  const slug = context
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 30)
    .replace(/^-+|-+$/g, '');
  const hash = createHash('sha256').update(`${context}\n${machine}`).digest('hex').slice(0, 8);
  return `${slug || 'ctx'}-${hash}`;
}

export interface SessionPaths {
  id: string;
  /** The journal: session facts and every change made to the OS and cluster. */
  stateFile: string;
  /** Private files of this session (resolver backup). */
  sessionDir: string;
  logFile: string;
  socket: string;
}

export function sessionPaths(dirs: SessionDirs, id: string): SessionPaths {
  return {
    id,
    stateFile: join(dirs.stateDir, 'sessions', `${id}.json`),
    sessionDir: join(dirs.stateDir, 'sessions', id),
    logFile: join(dirs.stateDir, 'logs', `${id}.log`),
    socket: join(dirs.runtimeDir, `${id}.sock`),
  };
}

export function sessionsDir(dirs: SessionDirs): string {
  return join(dirs.stateDir, 'sessions');
}
