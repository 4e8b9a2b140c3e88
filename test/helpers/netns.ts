// Network namespaces for tests. Every test that creates a TUN, a route or a
// DNS config does it inside a namespace made here, and the namespace is
// removed when the test ends, also when it fails (t.teardown).
import { type ChildProcess, execFile, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface TapLike {
  teardown(fn: () => unknown): void;
}

export async function run(cmd: string, args: string[], opts: { input?: string } = {}): Promise<string> {
  if (opts.input !== undefined) {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`)),
      );
      child.stdin.end(opts.input);
    });
  }
  try {
    const { stdout } = await execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** A short unique name, usable for namespaces and links (≤ 15 bytes). */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`.slice(0, 15);
}

export class NetNs {
  readonly name: string;
  readonly path: string;
  #removed = false;

  private constructor(name: string) {
    this.name = name;
    this.path = `/run/netns/${name}`;
  }

  /** Creates a namespace with loopback up; removed by t.teardown. */
  static async create(t: TapLike | undefined, prefix = 'kt'): Promise<NetNs> {
    const ns = new NetNs(uniqueName(prefix));
    await run('ip', ['netns', 'add', ns.name]);
    t?.teardown(() => ns.remove());
    await ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /** `ip -n NAME …` */
  ip(...args: string[]): Promise<string> {
    return run('ip', ['-n', this.name, ...args]);
  }

  /** Runs a command inside the namespace and returns its stdout. */
  exec(cmd: string, args: string[], opts: { input?: string } = {}): Promise<string> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  /** Spawns a long-running process inside the namespace. */
  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  async remove(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    // Processes still inside keep the namespace alive but it leaves the list.
    await run('ip', ['netns', 'pids', this.name])
      .then((pids) => {
        for (const pid of pids.split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {}
        }
      })
      .catch(() => {});
    await run('ip', ['netns', 'delete', this.name]).catch(() => {});
  }
}

/**
 * A veth pair between two namespaces with addresses on each end.
 * Either side may be undefined for the root namespace (avoid in tests that
 * could clash; prefer two created namespaces).
 */
export async function vethPair(
  a: NetNs,
  b: NetNs,
  addrA: string,
  addrB: string,
  opts: { mtu?: number } = {},
): Promise<{ ifA: string; ifB: string }> {
  const ifA = uniqueName('va');
  const ifB = uniqueName('vb');
  await a.ip('link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', b.name);
  if (opts.mtu) {
    await a.ip('link', 'set', ifA, 'mtu', String(opts.mtu));
    await b.ip('link', 'set', ifB, 'mtu', String(opts.mtu));
  }
  await a.ip('addr', 'add', addrA, 'dev', ifA);
  await b.ip('addr', 'add', addrB, 'dev', ifB);
  await a.ip('link', 'set', ifA, 'up');
  await b.ip('link', 'set', ifB, 'up');
  return { ifA, ifB };
}
