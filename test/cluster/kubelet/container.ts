// One container instance after another: spawn, watch it exit, record the
// state the API reports (waiting / running / terminated, lastState,
// restartCount, ready), and keep its log.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KObject } from '../apiserver/objects.js';
import { timestamp } from '../apiserver/objects.js';
import { type ContainerLaunch, renderContainerScript } from './container-script.js';
import { ContainerLog } from './logs.js';

// biome-ignore lint/suspicious/noExplicitAny: API state objects are JSON
type Json = any;

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGSEGV: 11,
};

export interface Exit {
  exitCode: number;
  signal?: string;
}

export class Container {
  readonly spec: Json;
  readonly name: string;
  readonly init: boolean;
  restartCount = 0;
  state: Json = { waiting: { reason: 'ContainerCreating' } };
  lastState: Json = {};
  ready = false;
  started = false;
  image: string;
  imageId = '';
  containerId: string | undefined;
  log: ContainerLog | undefined;
  previousLogPath: string | undefined;
  #proc: ChildProcess | undefined;
  #exited: Promise<Exit> | undefined;

  constructor(spec: Json, init: boolean) {
    this.spec = spec;
    this.name = spec.name;
    this.init = init;
    this.image = spec.image;
  }

  get running(): boolean {
    return this.#proc !== undefined;
  }
  get pid(): number | undefined {
    return this.#proc?.pid;
  }
  get exited(): Promise<Exit> | undefined {
    return this.#exited;
  }

  setWaiting(reason: string, message?: string): void {
    this.state = { waiting: message ? { reason, message } : { reason } };
  }

  /** Starts the process; resolves once it is spawned. `onExit` fires when it ends. */
  async start(
    podDir: string,
    podNetns: string,
    launch: Omit<ContainerLaunch, 'dir'>,
    onExit: (e: Exit) => void,
  ): Promise<void> {
    const id = randomBytes(32).toString('hex');
    const dir = join(podDir, 'containers', `${this.name}-${this.restartCount}`);
    await mkdir(dir, { recursive: true });
    const script = join(dir, 'run.sh');
    await writeFile(script, renderContainerScript({ ...launch, dir }));
    if (this.log) {
      this.previousLogPath = this.log.path;
      this.log.end();
    }
    this.log = new ContainerLog(join(podDir, 'logs', `${this.name}-${this.restartCount}.log`));
    const proc = spawn('ip', ['netns', 'exec', podNetns, 'unshare', '--uts', 'sh', script], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#proc = proc;
    this.containerId = `containerd://${id}`;
    const log = this.log;
    if (proc.stdout) log.attach(proc.stdout, 'stdout');
    if (proc.stderr) log.attach(proc.stderr, 'stderr');
    const startedAt = timestamp();
    this.state = { running: { startedAt } };
    this.started = true;
    this.#exited = new Promise<Exit>((resolve) => {
      proc.on('exit', (code, signal) => {
        const exit: Exit = signal ? { exitCode: 128 + (SIGNALS[signal] ?? 0), signal } : { exitCode: code ?? 0 };
        this.#proc = undefined;
        this.ready = false;
        this.started = false;
        this.state = {
          terminated: {
            exitCode: exit.exitCode,
            ...(exit.signal ? { signal: SIGNALS[exit.signal] } : {}),
            reason: exit.exitCode === 0 ? 'Completed' : 'Error',
            startedAt,
            finishedAt: timestamp(),
            containerID: this.containerId,
          },
        };
        // Let the log stream drain before closing it.
        setImmediate(() => log.end());
        resolve(exit);
        onExit(exit);
      });
    });
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', reject);
    });
  }

  /** Signals the container's whole process group. */
  signal(sig: NodeJS.Signals): void {
    const pid = this.#proc?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {}
    }
  }

  /** Moves the current terminated state to lastState before a restart. */
  prepareRestart(): void {
    if (this.state.terminated) this.lastState = { terminated: this.state.terminated };
    this.restartCount++;
  }

  status(): Json {
    const out: Json = {
      name: this.name,
      state: this.state,
      lastState: this.lastState,
      ready: this.ready,
      restartCount: this.restartCount,
      image: this.image,
      imageID: this.imageId,
      started: this.started,
    };
    if (this.containerId && !this.state.waiting?.reason?.startsWith('ContainerCreating'))
      out.containerID = this.containerId;
    return out;
  }
}

export function containerSpecs(pod: KObject): { init: Json[]; main: Json[] } {
  return { init: pod.spec?.initContainers ?? [], main: pod.spec?.containers ?? [] };
}
