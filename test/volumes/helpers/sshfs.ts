// Runs a shell script against a real sshfs mount of the file server, in a
// private mount namespace: the FUSE mount never shows in the host's mount
// table and goes away with the namespace. The script runs with $MNT set,
// after `sshfs -o directport=` succeeded; an EXIT trap unmounts, also on failure.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

/** Why sshfs cannot run here, or undefined if it can. */
export function sshfsMissing(): string | undefined {
  for (const tool of ['sshfs', 'fusermount3', 'unshare']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  if (spawnSync('unshare', ['--mount', 'true']).status !== 0) return 'cannot create a mount namespace (not root?)';
  if (spawnSync('sh', ['-c', 'test -c /dev/fuse']).status !== 0) return '/dev/fuse is missing';
  return undefined;
}

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export async function withSshfs(t: Test, port: number, script: string, options: string[] = []): Promise<ScriptResult> {
  const mnt = mkdtempSync(join(tmpdir(), 'kvpn-sshfs-'));
  t.teardown(() => rmSync(mnt, { recursive: true, force: true }));
  const opts = [`directport=${port}`, ...options].join(',');
  const whole = [
    'set -eu',
    `sshfs -o ${opts} 127.0.0.1:/ "$MNT"`,
    `trap 'fusermount3 -u "$MNT" 2>/dev/null || true' EXIT`,
    script,
  ].join('\n');
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', whole], {
    env: { PATH: process.env.PATH ?? '', MNT: mnt, LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}
