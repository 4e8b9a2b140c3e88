// Kubernetes credentials stay the invoking user's (docs/design.md §10).
//
// When kvpn runs as root through sudo, the session reads the user's own
// kubeconfig files once and lays a one-entry overlay over them in memory
// (what a file in front would do under kubectl's merge rules: the first
// definition of a name wins). The overlay redefines the context's user as an
// exec credential plugin: kvpn itself, `kvpn __exec-credential`. That
// helper starts as root, drops to the user's uid, gid and groups, takes the
// user's environment (handed over by the unprivileged CLI before sudo, or
// rebuilt from SUDO_* and the passwd entry), loads the user's kubeconfig as
// the user — running their exec plugin (cloud auth helpers) as the user —
// and prints the resulting token or client certificate as an
// ExecCredential. Root never runs the user's plugin, and the user's
// environment never touches the disk: it travels to the helper in the
// KVPN_EXEC_AS variable of the session process.
import { readFileSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { KvpnError } from '../errors.js';
import type { ExecPlugin } from '../kube/client.js';
import { selfCommand } from './self-command.js';

export const EXEC_AS_ENV = 'KVPN_EXEC_AS';
/** How long the daemon may reuse what the helper printed before asking again. */
export const CREDENTIAL_REUSE_MS = 60_000;

export interface InvokingUser {
  uid: number;
  gid: number;
  name: string;
  home: string;
  /** The user's environment (their KUBECONFIG, cloud CLI settings, PATH…). */
  env: Record<string, string>;
  /** Working directory the user ran kvpn from (relative kubeconfig paths). */
  cwd: string;
}

/** What the unprivileged CLI sends to its sudo'd self on stdin. */
export interface Handoff {
  version: 1;
  uid: number;
  gid: number;
  env: Record<string, string>;
  cwd: string;
}

export class CredentialHelperError extends KvpnError {
  constructor(message: string, options: { cause?: unknown; remedy?: string } = {}) {
    super('KVPN_ERR_CREDENTIALS', 'user', message, options);
  }
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function passwdEntry(uid: number, passwdPath = '/etc/passwd'): PasswdEntry | undefined {
  try {
    for (const line of readFileSync(passwdPath, 'utf8').split('\n')) {
      const [name, , u, g, , home] = line.split(':');
      if (name && Number(u) === uid) return { name, uid, gid: Number(g), home: home ?? '/' };
    }
  } catch {}
  return undefined;
}

/** The environment without unset entries, as child processes take it. */
export function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * The user behind sudo, or undefined when kvpn runs as a real root login
 * (then root's own credentials are the invoking user's).
 */
export function invokingUser(env: NodeJS.ProcessEnv = process.env, handoff?: Handoff): InvokingUser | undefined {
  const uid = env.SUDO_UID !== undefined ? Number(env.SUDO_UID) : handoff?.uid;
  if (uid === undefined || !Number.isInteger(uid) || uid === 0) return undefined;
  const entry = passwdEntry(uid);
  const gid = env.SUDO_GID !== undefined ? Number(env.SUDO_GID) : (handoff?.gid ?? entry?.gid ?? uid);
  const name = env.SUDO_USER ?? entry?.name ?? String(uid);
  const home = handoff?.env.HOME ?? entry?.home ?? '/';
  const userEnv: Record<string, string> = handoff
    ? { ...handoff.env }
    : {
        // sudo reset the environment: rebuild the basics from the passwd entry.
        ...stringEnv(env),
        HOME: home,
        USER: name,
        LOGNAME: name,
      };
  for (const key of Object.keys(userEnv)) if (key.startsWith('SUDO_') || key === EXEC_AS_ENV) delete userEnv[key];
  return { uid, gid, name, home, env: userEnv, cwd: handoff?.cwd ?? home };
}

/** The user's kubeconfig path list, as kubectl would compute it in the user's shell. */
export function userKubeconfigPaths(user: InvokingUser, explicit?: string): string[] {
  const raw = explicit ?? user.env.KUBECONFIG;
  const list = raw ? raw.split(delimiter).filter(Boolean) : [join(user.home, '.kube', 'config')];
  return list.map((p) => (isAbsolute(p) ? p : resolve(user.cwd, p)));
}

interface ExecAs {
  uid: number;
  gid: number;
  name: string;
  env: Record<string, string>;
  kubeconfig: string;
  context: string;
}

/**
 * The overlay's user entry: kvpn's helper as the exec plugin of the
 * context's user. Sets KVPN_EXEC_AS in `env` (the session process's) so the
 * helper knows whom to become and which files (`userPaths`, the user's own)
 * to load as them.
 */
export function enableCredentialOverlay(
  user: InvokingUser,
  userPaths: string[],
  context: string,
  env: NodeJS.ProcessEnv = process.env,
): ExecPlugin {
  const self = selfCommand();
  const execAs: ExecAs = {
    uid: user.uid,
    gid: user.gid,
    name: user.name,
    env: user.env,
    kubeconfig: userPaths.join(delimiter),
    context,
  };
  env[EXEC_AS_ENV] = JSON.stringify(execAs);
  return {
    apiVersion: 'client.authentication.k8s.io/v1',
    command: self.command,
    args: [...self.args, '__exec-credential'],
    // The helper is ours: no inherited node flags (they might need root's files).
    env: [{ name: 'NODE_OPTIONS', value: '' }],
    interactiveMode: 'Never',
    provideClusterInfo: false,
  };
}

function dropPrivileges(target: ExecAs): void {
  if (process.getuid?.() !== 0) return;
  // initgroups is missing from @types/node 20 but present on Linux.
  const proc = process as NodeJS.Process & { initgroups?: (user: string, gid: number) => void };
  try {
    proc.initgroups?.(target.name, target.gid);
  } catch {
    process.setgroups?.([target.gid]);
  }
  process.setgid?.(target.gid);
  process.setuid?.(target.uid);
  if (process.getuid?.() === 0 || process.geteuid?.() === 0) {
    throw new CredentialHelperError('could not drop root privileges for the credential helper');
  }
}

/**
 * The helper's work (`kvpn __exec-credential`): returns the ExecCredential
 * JSON to print. Exported for tests; only the CLI writes it to stdout.
 */
export async function execCredential(env: NodeJS.ProcessEnv = process.env, now = Date.now()): Promise<string> {
  const raw = env[EXEC_AS_ENV];
  if (!raw) {
    throw new CredentialHelperError(`${EXEC_AS_ENV} is not set`, {
      remedy: 'This command is run by the kvpn daemon only.',
    });
  }
  const target = JSON.parse(raw) as ExecAs;
  dropPrivileges(target);
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, target.env);
  try {
    process.chdir(target.env.HOME ?? '/');
  } catch {}
  const { KubeClient } = await import('../kube/client.js');
  const client = KubeClient.load({ kubeconfig: target.kubeconfig, context: target.context });
  try {
    const opts = await client.connectionOptions();
    const status: Record<string, string> = {
      expirationTimestamp: new Date(now + CREDENTIAL_REUSE_MS).toISOString(),
    };
    const auth = (opts.headers as Record<string, unknown> | undefined)?.Authorization;
    if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) status.token = auth.replace(/^Bearer\s+/i, '');
    if (opts.cert) status.clientCertificateData = opts.cert.toString();
    if (opts.key) status.clientKeyData = opts.key.toString();
    if (!status.token && !status.clientCertificateData) {
      throw new CredentialHelperError(`the kubeconfig user "${client.userName}" has no token or client certificate`, {
        remedy: 'kvpn supports tokens, client certificates and exec plugins; basic auth is not supported under sudo.',
      });
    }
    return JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status });
  } finally {
    client.close();
  }
}
