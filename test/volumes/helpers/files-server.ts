// Runs kvpn's file server (src/volumes/server/main.ts) as a child process,
// as the pod would, on a fresh temporary root; collects its JSON log lines.

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
export const TOKEN = 'test-token-0123456789abcdef';

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export interface RunningServer {
  child: ChildProcess;
  root: string;
  port: number;
  token: string;
  logs: LogLine[];
  stdout: () => string;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>;
  /** Resolves with the first log line for which match holds (already logged or to come). */
  logged(match: (l: LogLine) => boolean): Promise<LogLine>;
}

/** Starts the server; resolves once it logged "listening" (or exited first). */
export async function startFilesServer(
  t: Test,
  env: Record<string, string> = {},
  root: string = mkdtempSync(join(tmpdir(), 'kvpn-files-')),
): Promise<RunningServer> {
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const child = spawn(process.execPath, ['--import', './scripts/ts-loader.mjs', 'src/volumes/server/main.ts'], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '',
      KVPN_FILES_TOKEN_SHA256: createHash('sha256').update(TOKEN).digest('hex'),
      KVPN_FILES_PORT: '0',
      KVPN_FILES_ROOT: root,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  // SIGTERM is a clean exit (coverage is written then); SIGKILL only if that hangs.
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const stuck = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(stuck);
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const logs: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let partial = '';
  child.stderr?.on('data', (c: Buffer) => {
    partial += c.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const text of lines) {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { level: 'not-json', msg: text };
      }
      logs.push(line);
      for (const w of [...waiters])
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
    }
  });
  const logged = (match: (l: LogLine) => boolean): Promise<LogLine> => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => waiters.push({ match, resolve }));
  };
  const first = await Promise.race([logged((l) => l.msg === 'listening'), exited.then(() => undefined)]);
  return {
    child,
    root,
    port: typeof first?.port === 'number' ? first.port : 0,
    token: TOKEN,
    logs,
    stdout: () => out,
    exited,
    logged,
  };
}
