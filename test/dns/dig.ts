// Runs the real dig(1) and reads its output: status, flags and sections.
import { run } from '../helpers/netns.js';

export interface DigResult {
  status: string;
  flags: string[];
  answer: string[];
  authority: string[];
  raw: string;
}

/** `dig @server -p port args…`, optionally inside a namespace (`ns.exec`). */
export async function dig(
  server: string,
  port: number,
  args: string[],
  exec: (cmd: string, args: string[]) => Promise<string> = run,
): Promise<DigResult> {
  const raw = await exec('dig', [
    `@${server}`,
    '-p',
    String(port),
    '+tries=1',
    '+time=3',
    '+nocmd',
    '+nostats',
    ...args,
  ]);
  return parseDig(raw);
}

export function parseDig(raw: string): DigResult {
  const status = /status: (\w+)/.exec(raw)?.[1] ?? '';
  const flags = (/;; flags: ([^;]*);/.exec(raw)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
  const sections: Record<string, string[]> = {};
  let current = '';
  for (const line of raw.split('\n')) {
    const header = /^;; (\w+) SECTION:/.exec(line);
    if (header?.[1]) {
      current = header[1];
      sections[current] = [];
      continue;
    }
    if (!line.trim() || line.startsWith(';')) continue;
    // "name. 5 IN A 10.96.10.1" → "name. A 10.96.10.1" (TTL and class dropped).
    const [name, , , type, ...data] = line.split(/\s+/);
    sections[current]?.push(`${name?.toLowerCase()} ${type} ${data.join(' ')}`);
  }
  return {
    status,
    flags,
    answer: (sections.ANSWER ?? []).sort(),
    authority: (sections.AUTHORITY ?? []).sort(),
    raw,
  };
}
