// A containerd of its own for tests that run our images: root, state, socket
// and config under one directory, started by unshare in fresh mount, PID and
// network namespaces. Its overlay mounts therefore never reach the host;
// killing it (PID 1 of its namespace) takes every shim and container with
// it; `--net-host` containers share only its private network (lo with
// TEST_IP). A tmpfs hides the host's /run, because containerd 1.6 puts shim
// sockets and runc state under /run/containerd whatever its config says.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageArchiveError, runTool } from './image-archive.js';

/** The extra address on the namespace's loopback: not 127.0.0.1, so pg_hba's `host all all all` is what admits it. */
export const TEST_IP = '10.250.77.1';
const CGROUP_ROOT = '/sys/fs/cgroup';
const BOOTED = /containerd successfully booted/;
const LOG_TAIL_CHARS = 4000;
const CGROUP_RMDIR_TRIES = 50;
const CGROUP_RMDIR_RETRY_MS = 20;

export interface RunOptions {
  /** Replaces the image's Entrypoint and Cmd both (ctr semantics, unlike a pod's `args`). */
  cmd?: string[];
  env?: string[];
  /** Read-only bind mounts of host paths. */
  mounts?: { source: string; destination: string }[];
}

/** A long-lived ctr (`run --rm`, `events`): its output so far, and its exit code when it ends. */
export class CtrProcess {
  output = '';
  readonly exit: Promise<number>;
  readonly #child: ChildProcess;
  #waiters: { re: RegExp; resolve: () => void }[] = [];

  constructor(child: ChildProcess) {
    this.#child = child;
    const onData = (d: Buffer) => {
      this.output += d.toString();
      const done = this.#waiters.filter((w) => w.re.test(this.output));
      this.#waiters = this.#waiters.filter((w) => !done.includes(w));
      for (const w of done) w.resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exit = new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => {
        for (const w of this.#waiters) w.resolve(); // the caller's next check sees the output as it ended
        resolve(code ?? -1);
      });
    });
  }

  /** Resolves when the output matches `re` (or the process ended). */
  waitOutput(re: RegExp): Promise<void> {
    if (re.test(this.output)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ re, resolve }));
  }

  stop(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
  }
}

export class TestContainerd {
  readonly dir: string;
  readonly address: string;
  readonly #fifoDir: string;
  readonly #cgroupParent = `kvpn-images-${randomBytes(3).toString('hex')}`;
  readonly #unshare: ChildProcess;
  readonly #exited: Promise<void>;
  #log = '';
  #closed = false;
  #processes: CtrProcess[] = [];

  private constructor(dir: string, unshare: ChildProcess) {
    this.dir = dir;
    this.address = join(dir, 'containerd.sock');
    this.#fifoDir = join(dir, 'fifo');
    this.#unshare = unshare;
    this.#exited = new Promise((resolve) => unshare.on('close', () => resolve()));
    unshare.stderr?.on('data', (d: Buffer) => {
      this.#log = (this.#log + d.toString()).slice(-LOG_TAIL_CHARS);
    });
  }

  static async start(dir: string): Promise<TestContainerd> {
    await mkdir(join(dir, 'fifo'), { recursive: true });
    const config = join(dir, 'config.toml');
    await writeFile(
      config,
      [
        'version = 2',
        `root = "${join(dir, 'root')}"`,
        `state = "${join(dir, 'state')}"`,
        '[grpc]',
        `  address = "${join(dir, 'containerd.sock')}"`,
        '[plugins."io.containerd.grpc.v1.cri"]',
        // root here lacks CAP_SYS_RESOURCE: no lowering of oom_score_adj
        '  restrict_oom_score_adj = true',
        '[plugins."io.containerd.grpc.v1.cri".containerd]',
        '  snapshotter = "overlayfs"',
        // Its defaults (/etc/cni/net.d, /opt/containerd) are on the host: keep them in dir.
        '[plugins."io.containerd.grpc.v1.cri".cni]',
        `  conf_dir = "${join(dir, 'cni')}"`,
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = "${join(dir, 'opt')}"`,
        '',
      ].join('\n'),
    );
    const script = [
      'set -e',
      'mount -t tmpfs -o mode=755 kvpn-test-run /run',
      'ip link set lo up',
      `ip addr add ${TEST_IP}/32 dev lo`,
      `exec containerd --config ${config}`,
    ].join('\n');
    const unshare = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', '--mount-proc', '--net'].concat([
        'sh',
        '-c',
        script,
      ]),
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const c = new TestContainerd(dir, unshare);
    try {
      await c.#booted();
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  #booted(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onData = () => {
        if (!BOOTED.test(this.#log)) return;
        this.#unshare.stderr?.off('data', onData);
        resolve();
      };
      this.#unshare.stderr?.on('data', onData);
      this.#exited.then(() => reject(new ImageArchiveError(`containerd exited while starting: ${this.#log}`)));
    });
  }

  /** `ctr -n k8s.io …` against this containerd. */
  ctr(args: string[]): Promise<string> {
    return runTool('ctr', ['--address', this.address, '-n', 'k8s.io', ...args]);
  }

  #runArgs(image: string, id: string, opts: RunOptions): string[] {
    return [
      '--address',
      this.address,
      '-n',
      'k8s.io',
      'run',
      '--rm',
      '--net-host',
      `--fifo-dir=${this.#fifoDir}`,
      `--cgroup=/${this.#cgroupParent}/${id}`,
      ...(opts.env ?? []).map((e) => `--env=${e}`),
      ...(opts.mounts ?? []).map((m) => `--mount=type=bind,src=${m.source},dst=${m.destination},options=rbind:ro`),
      image,
      id,
      ...(opts.cmd ?? []),
    ];
  }

  /** Runs a container to its end; its output (stdout) when it exits 0. */
  run(image: string, id: string, opts: RunOptions = {}): Promise<string> {
    return runTool('ctr', this.#runArgs(image, id, opts));
  }

  /** Starts a container that keeps running; `ctr run` lives as long as it does and exits with its code. */
  start(image: string, id: string, opts: RunOptions = {}): CtrProcess {
    return this.#spawnCtr(this.#runArgs(image, id, opts));
  }

  /** `ctr events`: lines like `… k8s.io /tasks/exit {"container_id":"p1",…,"exit_status":0,…}`. */
  events(): CtrProcess {
    return this.#spawnCtr(['--address', this.address, 'events']);
  }

  #spawnCtr(args: string[]): CtrProcess {
    const p = new CtrProcess(spawn('ctr', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    this.#processes.push(p);
    return p;
  }

  exec(id: string, cmd: string[]): Promise<string> {
    const execId = `x${randomBytes(4).toString('hex')}`;
    return this.ctr(['tasks', 'exec', `--fifo-dir=${this.#fifoDir}`, `--exec-id=${execId}`, id, ...cmd]);
  }

  /** Task id → status (RUNNING, STOPPED…). */
  async tasks(): Promise<Map<string, string>> {
    const lines = (await this.ctr(['tasks', 'ls'])).trim().split('\n').slice(1);
    return new Map(lines.map((l) => l.trim().split(/\s+/)).map(([id, , status]) => [id ?? '', status ?? '']));
  }

  /** Runs a host command inside containerd's network namespace (where `--net-host` containers listen). */
  async inNetwork(cmd: string, args: string[]): Promise<string> {
    const pid = (await runTool('pgrep', ['-P', String(this.#unshare.pid)])).trim();
    return runTool('nsenter', [`--net=/proc/${pid}/ns/net`, cmd, ...args]);
  }

  /** Lines of /proc/mounts (the host's view) naming this containerd's directory. */
  async hostMounts(): Promise<string[]> {
    return (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(this.dir));
  }

  /** This containerd's cgroup directories still present in the host's hierarchies. */
  async cgroupsLeft(): Promise<string[]> {
    const left: string[] = [];
    for (const hierarchy of await readdir(CGROUP_ROOT).catch(() => [])) {
      const dir = join(CGROUP_ROOT, hierarchy, this.#cgroupParent);
      if (
        await stat(dir).then(
          () => true,
          () => false,
        )
      )
        left.push(dir);
    }
    return left;
  }

  /** Kills containerd and everything it started, removes its cgroups and directory. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#processes) p.stop();
    // unshare ignores SIGTERM while it waits; SIGKILL makes --kill-child kill containerd,
    // PID 1 of the namespace, and the kernel then kills every shim and container in it
    this.#unshare.kill('SIGKILL');
    await this.#exited;
    for (const dir of await this.cgroupsLeft()) await removeCgroup(dir);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** rmdir a cgroup and its children; a killed container's cgroup stays busy until its last task has died. */
async function removeCgroup(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => []))
    if (entry.isDirectory()) await removeCgroup(join(dir, entry.name));
  for (let i = 0; ; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= CGROUP_RMDIR_TRIES) throw err;
      await new Promise((r) => setTimeout(r, CGROUP_RMDIR_RETRY_MS));
    }
  }
}
