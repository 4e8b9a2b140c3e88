// Getting root for `up` and crash cleanup. Without root, kvpn re-runs
// itself through sudo and hands its own environment (KUBECONFIG, cloud CLI
// settings…) to the root process on stdin, so credentials can later be
// obtained as this user with exactly this environment
// (src/host/credentials.ts). Without sudo, NeedsRootError says how to run it.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { KvpnError } from '../errors.js';
import { type Handoff, stringEnv } from '../host/credentials.js';
import { selfCommand } from '../host/self-command.js';

const HANDOFF_MAX_BYTES = 1024 * 1024;

export class NeedsRootError extends KvpnError {
  constructor(command: string, why: string) {
    super('KVPN_ERR_NEEDS_ROOT', 'system', `\`kvpn ${command}\` needs root ${why}, and sudo is not available`, {
      remedy: `Run it as root, e.g. \`su -c 'kvpn ${command}'\`, or install and configure sudo.`,
    });
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/** The sudo on the PATH; without one, NeedsRootError for `kvpn <command>`, saying `why` root is needed. */
export function findSudo(command: string, why: string, env: NodeJS.ProcessEnv): string {
  const sudo = findExecutable('sudo', env);
  if (!sudo) throw new NeedsRootError(command, why);
  return sudo;
}

/**
 * Re-runs `kvpn <command> <args>` as root through `sudo` and resolves with
 * its exit code. The child reads the handoff from stdin (`--handoff stdin`).
 */
export async function rerunAsRoot(
  sudo: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const self = selfCommand();
  const handoff: Handoff = {
    version: 1,
    uid: process.getuid?.() ?? -1,
    gid: process.getgid?.() ?? -1,
    env: stringEnv(env),
    cwd: process.cwd(),
  };
  const prompt = `[sudo] password for %u (kvpn ${command}): `;
  const child = spawn(sudo, ['-p', prompt, '--', self.command, ...self.args, command, ...args, '--handoff', 'stdin'], {
    stdio: ['pipe', 'inherit', 'inherit'],
    env,
  });
  child.stdin.on('error', () => {});
  child.stdin.end(JSON.stringify(handoff));
  // The terminal's Ctrl-C reaches sudo and kvpn-as-root too; they clean up and exit.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
    });
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', ignore);
  }
}

/** Reads the handoff the unprivileged parent wrote to our stdin. */
export async function readHandoff(stdin: NodeJS.ReadableStream = process.stdin): Promise<Handoff> {
  let text = '';
  for await (const chunk of stdin) {
    text += chunk.toString();
    if (text.length > HANDOFF_MAX_BYTES) break;
  }
  try {
    const parsed = JSON.parse(text) as Handoff;
    if (parsed.version === 1 && typeof parsed.env === 'object') return parsed;
  } catch {}
  throw new KvpnError('KVPN_ERR_USAGE', 'internal', 'the handoff from the unprivileged kvpn process is malformed', {
    remedy: 'Run `kvpn up` without --handoff; it passes this itself.',
  });
}
