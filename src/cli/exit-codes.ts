// Exit codes of every kvpn command (documented in docs/cli.md). Errors map
// by category, so scripts can tell "fix your input" from "the cluster is
// down" from "this machine can't do it".
import type { ErrorCategory } from '../errors.js';

export const EXIT = {
  OK: 0,
  /** A bug: please report it with the log. */
  INTERNAL: 1,
  /** Bad command line (unknown flag, invalid CIDR…). */
  USAGE: 2,
  /** Kubeconfig, context, credentials or permissions: fix the input or the access. */
  CONFIG: 3,
  /** The cluster or the API server failed or refused. */
  CLUSTER: 4,
  /** This machine: TUN, routes, resolver, root. */
  SYSTEM: 5,
  /** A session for this context is already running. */
  SESSION_EXISTS: 6,
  /** No session to show or act on (status, logs, expose, leave). */
  NO_SESSION: 7,
  /** Interrupted (Ctrl-C) before `up` finished; nothing is left behind. */
  INTERRUPTED: 130,
} as const;

const BY_CATEGORY: Record<ErrorCategory, number> = {
  user: EXIT.CONFIG,
  config: EXIT.CONFIG,
  cluster: EXIT.CLUSTER,
  system: EXIT.SYSTEM,
  internal: EXIT.INTERNAL,
};

const BY_CODE: Record<string, number> = {
  KVPN_ERR_USAGE: EXIT.USAGE,
  KVPN_ERR_SESSION_EXISTS: EXIT.SESSION_EXISTS,
  KVPN_ERR_NO_SESSION: EXIT.NO_SESSION,
  KVPN_ERR_INTERRUPTED: EXIT.INTERRUPTED,
};

export function exitCodeFor(code: string, category: ErrorCategory): number {
  return BY_CODE[code] ?? BY_CATEGORY[category] ?? EXIT.INTERNAL;
}
