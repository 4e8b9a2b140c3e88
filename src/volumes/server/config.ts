// The file server's settings from its environment (set by kvpn on the
// ephemeral container). Pure: the environment in, a config or every problem out.
import { resolve } from 'node:path';

export const DEFAULT_IDLE_MS = 10_000;
export const DEFAULT_START_MS = 120_000;
const MAX_MS = 7 * 24 * 3600_000;

export interface FilesConfig {
  /** sha256 of the session's token: the pod spec shows this, never the token. */
  tokenDigest: Buffer;
  port: number;
  /** Absolute, without trailing slash (or "/"). */
  root: string;
  /** Exit this long after the last connection closed. */
  idleMs: number;
  /** Exit if no connection was accepted this long after start. */
  startMs: number;
}

export function filesConfigFromEnv(env: NodeJS.ProcessEnv): FilesConfig | { errors: string[] } {
  const errors: string[] = [];
  const int = (name: string, min: number, max: number, fallback?: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      if (fallback === undefined) errors.push(`${name} must be set`);
      return fallback ?? 0;
    }
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) errors.push(`${name}=${raw} is not an integer in [${min}, ${max}]`);
    return n;
  };
  const digest = env.KVPN_FILES_TOKEN_SHA256 ?? '';
  if (!/^[0-9a-f]{64}$/.test(digest)) errors.push('KVPN_FILES_TOKEN_SHA256 must be 64 lowercase hex digits');
  const port = int('KVPN_FILES_PORT', 0, 65535); // 0: any free port (tests), logged when listening
  const rawRoot = env.KVPN_FILES_ROOT ?? '';
  if (rawRoot === '') errors.push('KVPN_FILES_ROOT must be set');
  const idleMs = int('KVPN_FILES_IDLE_MS', 0, MAX_MS, DEFAULT_IDLE_MS);
  const startMs = int('KVPN_FILES_START_MS', 0, MAX_MS, DEFAULT_START_MS);
  if (errors.length > 0) return { errors };
  return { tokenDigest: Buffer.from(digest, 'hex'), port, root: resolve(rawRoot), idleMs, startMs };
}
