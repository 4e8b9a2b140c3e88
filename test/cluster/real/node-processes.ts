// The node's daemons, all in one network namespace and one private mount
// namespace. A holder process creates the mount namespace and lays over it
// what must not reach the host: a tmpfs on /run (containerd's sockets, the
// pods' network namespace files), /var/log (the kubelet's container log
// links) and /var/lib (sockets it keeps there whatever its root), and files over the /proc/sys entries the kubelet would otherwise
// set machine-wide. Each daemon then enters both namespaces with nsenter
// (never `ip netns exec`, which gives each its own mount namespace and
// containerd and the kubelet would not see each other's mounts).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KUBELET_SYSCTLS } from './config-files.js';
import type { RealLayout } from './layout.js';

export class ComponentExitedError extends Error {
  readonly code = 'COMPONENT_EXITED';
}

export class NodeProcesses {
  readonly #layout: RealLayout;
  readonly #log: (line: string) => void;
  #holder: ChildProcess | undefined;
  readonly #children = new Map<string, ChildProcess>();
  #stopping = false;
  /** Called when a daemon exits while the world runs: the world is broken. */
  onUnexpectedExit: (name: string, code: number | null, signal: string | null) => void = () => {};

  constructor(layout: RealLayout, log: (line: string) => void) {
    this.#layout = layout;
    this.#log = log;
  }

  get holderPid(): number | undefined {
    return this.#holder?.pid;
  }

  async createMountNamespace(): Promise<void> {
    const L = this.#layout;
    await mkdir(L.sysctlDir, { recursive: true });
    const binds: string[] = [];
    for (const [key, value] of Object.entries(KUBELET_SYSCTLS)) {
      const file = join(L.sysctlDir, key.replaceAll('/', '.'));
      await writeFile(file, `${value}\n`);
      binds.push(`mount --bind ${file} /proc/sys/${key}`);
    }
    const script = [
      'set -e',
      'mount -t tmpfs -o mode=755 kvpn-run /run',
      'mount -t tmpfs -o mode=755 kvpn-log /var/log',
      // The kubelet's device-plugin socket ignores --root-dir.
      'mount -t tmpfs -o mode=755 kvpn-lib /var/lib',
      ...binds,
      // Propagation inside this namespace only (its own peer groups): the
      // kubelet and containerd share volume mounts with containers.
      'mount --make-rshared /',
      'echo ready',
      'exec sleep infinity',
    ].join('\n');
    const holder = spawn(
      'nsenter',
      [`--net=/run/netns/${L.nodeNetnsName}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#holder = holder;
    let err = '';
    holder.stderr?.on('data', (d) => (err += d));
    await new Promise<void>((resolve, reject) => {
      holder.stdout?.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`mount namespace holder exited (${code}): ${err.trim()}`)));
    });
    await writeFile(L.holderPidFile, `${holder.pid}\n`);
  }

  /** Starts `argv` inside the node, output appended to logs/NAME.log. */
  async start(name: string, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
    const holder = this.#holder?.pid;
    if (!holder) throw new Error('the node mount namespace is not there');
    await mkdir(this.#layout.logsDir, { recursive: true });
    const out = openSync(this.#layout.logOf(name), 'a');
    const child = spawn(
      'nsenter',
      [`--mount=/proc/${holder}/ns/mnt`, `--net=/run/netns/${this.#layout.nodeNetnsName}`, '--', ...argv],
      { stdio: ['ignore', out, out], env: { PATH: process.env.PATH, HOME: '/root', ...env } },
    );
    closeSync(out);
    this.#children.set(name, child);
    child.once('exit', (code, signal) => {
      this.#log(`${name} exited (code ${code}, signal ${signal})`);
      if (!this.#stopping) this.onUnexpectedExit(name, code, signal);
    });
    return child;
  }

  /** Resolves when `name` exits; for start-up waits that should fail fast. */
  exited(name: string): Promise<never> {
    const child = this.#children.get(name);
    return new Promise((_, reject) => {
      child?.once('exit', (code) => {
        const tail = readFileSync(this.#layout.logOf(name), 'utf8').split('\n').slice(-15).join('\n');
        reject(new ComponentExitedError(`${name} exited with ${code}; its log ends:\n${tail}`));
      });
    });
  }

  /** Stops the daemons in the reverse order of their start, then the holder. */
  async stop(graceMs = 5_000): Promise<void> {
    this.#stopping = true;
    for (const [name, child] of [...this.#children].reverse()) {
      await stopChild(child, graceMs);
      this.#children.delete(name);
    }
    if (this.#holder) await stopChild(this.#holder, 1_000);
    this.#holder = undefined;
  }
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
