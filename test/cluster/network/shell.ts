// Running ip, nft and friends for the world. Commands are argv arrays (no
// shell), errors carry stderr.
import { execFile } from 'node:child_process';

export class CommandError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err)
        reject(new CommandError(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`, String(stderr)));
      else resolve(String(stdout));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export function ipIn(netns: string, ...args: string[]): Promise<string> {
  return run('ip', ['-n', netns, ...args]);
}

export function inNetns(netns: string, cmd: string, args: string[], input?: string): Promise<string> {
  return run('nsenter', [`--net=/run/netns/${netns}`, cmd, ...args], input);
}

export function sysctl(netns: string, key: string, value: string): Promise<string> {
  return inNetns(netns, 'sysctl', ['-qw', `${key}=${value}`]);
}
