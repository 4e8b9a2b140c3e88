// A laptop of the test world: a network namespace where kvpn and its
// clients run, and the resolv.conf that `ip netns exec` shows them as
// /etc/resolv.conf. Every world has one (cluster.laptop); the real world
// makes more on demand (cluster.addLaptop(), real/added-laptop.ts).
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export interface Laptop {
  /** The network namespace, under /run/netns. */
  readonly name: string;
  /** /run/netns/<name>, for nsenter. */
  readonly path: string;
  /** /etc/netns/<name>/resolv.conf: the laptop's system resolver configuration. */
  readonly resolvConf: string;
  /** Runs a command in the laptop (`ip netns exec`, so it sees the laptop's resolv.conf). */
  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Spawns a long-running process in the laptop, as exec does. */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
}

export class NetnsLaptop implements Laptop {
  readonly name: string;
  readonly path: string;
  readonly resolvConf: string;

  constructor(name: string) {
    this.name = name;
    this.path = `/run/netns/${name}`;
    this.resolvConf = `/etc/netns/${name}/resolv.conf`;
  }

  exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return execInNetns(this.name, cmd, args, opts);
  }

  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }
}

/** Runs a command in a network namespace and collects its output; a timeout kills it. */
export function execInNetns(netns: string, cmd: string, args: string[], opts: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    // A name under /run/netns, or a path (a real world's pod: /proc/PID/ns/net).
    const argv = netns.startsWith('/') ? ['nsenter', `--net=${netns}`, cmd] : ['ip', 'netns', 'exec', netns, cmd];
    const child = spawn(argv[0] as string, [...argv.slice(1), ...args], {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input);
  });
}
