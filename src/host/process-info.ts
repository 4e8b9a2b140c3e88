// Identifying a process across time: a pid alone can be reused after a
// crash, so the journal keeps the kernel's start time (field 22 of
// /proc/PID/stat) beside it and we only signal the process that matches.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: skip past the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

export function isAlive(pid: number, startTime?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const fields = statFields(pid);
  // A zombie has exited; only its parent's wait() is missing.
  if (fields?.[0] === 'Z') return false;
  if (startTime === undefined || fields === undefined) return true;
  return fields[19] === startTime;
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves true if it had to be stopped. */
export async function stopProcess(pid: number, startTime: string | undefined, graceMs = 5000): Promise<boolean> {
  if (!isAlive(pid, startTime)) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(50);
    if (!isAlive(pid, startTime)) return true;
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {}
  for (let i = 0; i < 40 && isAlive(pid, startTime); i++) await sleep(25);
  return true;
}
