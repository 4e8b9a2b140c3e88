// `kvpn mount`: a workload's volumes under a directory on this machine
// (docs/mount.md). The session journals the directory and each sshfs process
// before making them, so `down` and the next `up`/`down` after a crash put
// everything back.
import { randomBytes } from 'node:crypto';
import { lstatSync, realpathSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Logger } from '../host/log.js';
import { processStartTime, stopProcess } from '../host/process-info.js';
import type { KubeClient } from '../kube/client.js';
import {
  findMountTarget,
  loadFilesBundle,
  MountError,
  planMounts,
  prepareMountDir,
  removeMount,
  WorkloadMount,
} from '../volumes/index.js';
import type { JournalEntry, StateJournal } from './state-journal.js';
import type { MountStatus } from './types.js';

export const DEFAULT_FILES_IMAGE = 'node:22-alpine';
/** How long the file server stays up with no laptop connected: a crashed laptop's server is gone after this. */
export const FILES_IDLE_MS = 10_000;

export interface MountRequest {
  workload: string;
  container?: string | undefined;
  pod?: string | undefined;
  /** Absolute; the CLI picks a fresh one under the user's runtime dir when none is given. */
  dir: string;
  rw: boolean;
  only?: string[] | undefined;
  name?: string | undefined;
  filesImage?: string | undefined;
}

export interface MountsOptions {
  client: KubeClient;
  journal: StateJournal;
  sessionId: string;
  /** Owner of what appears on the laptop: the invoking user. */
  user: { uid: number; gid: number };
  /** The session's own directory: each mount's scratch space goes under it. */
  stagingRoot: string;
  log: Logger;
}

interface Mounted {
  status: Omit<MountStatus, 'problem' | 'updates' | 'updateErrors'>;
  mount: WorkloadMount;
  entries: JournalEntry[];
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const userError = (code: `KVPN_ERR_${string}`, message: string, remedy: string): MountError =>
  new MountError(code, 'user', message, { remedy });

export class Mounts {
  readonly #o: MountsOptions;
  readonly #byName = new Map<string, Mounted>();
  readonly #busy = new Set<string>();
  #closed = false;

  constructor(options: MountsOptions) {
    this.#o = options;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  list(): MountStatus[] {
    return [...this.#byName.values()].map((m) => {
      const api = m.mount.apiStatus;
      return { ...m.status, problem: m.mount.problem, updates: api.updates, updateErrors: api.errors };
    });
  }

  async mount(request: MountRequest): Promise<MountStatus> {
    const { client, journal, log } = this.#o;
    if (this.#closed)
      throw userError('KVPN_ERR_NO_SESSION', 'the session is stopping', 'Start a new session with `kvpn up`.');
    if (!isAbsolute(request.dir))
      throw userError(
        'KVPN_ERR_MOUNT_DIR',
        `"${request.dir}" is not an absolute path`,
        'Give DIR as an absolute path.',
      );
    const found = await findMountTarget(client, request);
    const { pod, container } = found;
    const name = request.name ?? (found.workload.split('/')[1] as string);
    if (!NAME.test(name))
      throw userError(
        'KVPN_ERR_MOUNT_NAME',
        `"${name}" is not a valid mount name`,
        'Use lowercase letters, digits and "-" (--name).',
      );
    if (this.#byName.has(name) || this.#busy.has(name))
      throw userError(
        'KVPN_ERR_MOUNT_EXISTS',
        `this session already has a mount named "${name}"`,
        `Run \`kvpn unmount ${name}\` first, or pick another --name.`,
      );
    const plan = planMounts(pod.spec, container, { only: request.only, rw: request.rw });
    if (plan.mounts.length === 0)
      throw userError(
        'KVPN_ERR_MOUNT_NO_VOLUMES',
        `none of ${found.workload}'s volume mounts can be shown: ${plan.skipped.map((s) => `${s.mountPath} (${s.why})`).join(', ')}`,
        'Pick other volumes with --only.',
      );
    this.#busy.add(name);
    try {
      const createdDir = prepareMountDir(request.dir, this.#o.user);
      // The real path: mountinfo and the kernel name it so (a symlink in DIR's path would hide mounts).
      const dir = realpathSync(request.dir);
      const { dev, ino } = lstatSync(dir);
      const suffix = randomBytes(3).toString('hex');
      const staging = join(this.#o.stagingRoot, `mount-${name}-${suffix}`);
      const tops = [...new Set(plan.mounts.map((m) => m.mountPath.split('/').filter(Boolean)[0] as string))];
      const entries = [journal.record({ kind: 'mount', dir, createdDir, staging, dev, ino, entries: tops })];
      const serverName = `kvpn-files-${suffix}`;
      const namespace = client.namespace;
      prepareMountDir(staging);
      let mount: WorkloadMount;
      try {
        mount = await WorkloadMount.open({
          client,
          namespace,
          pod,
          container,
          plan,
          dir,
          stagingDir: staging,
          owner: this.#o.user,
          sessionId: this.#o.sessionId,
          serverName,
          serverPort: 20_000 + Math.floor(Math.random() * 40_000),
          image: request.filesImage ?? DEFAULT_FILES_IMAGE,
          bundle: loadFilesBundle,
          idleMs: FILES_IDLE_MS,
          log,
          onProcess: (pid, what) =>
            entries.push(journal.record({ kind: 'process', pid, startTime: processStartTime(pid), what })),
        });
      } catch (err) {
        await this.#undo(entries).catch(() => undefined);
        throw err;
      }
      if (this.#closed) {
        // `down` began while this mount started: it must not outlive the session.
        await mount.close();
        await this.#undo(entries).catch(() => undefined);
        throw userError(
          'KVPN_ERR_NO_SESSION',
          'the session stopped while mounting',
          'Start a new session with `kvpn up`.',
        );
      }
      const status = {
        name,
        namespace,
        workload: found.workload,
        pod: pod.metadata.name,
        container: container.name,
        dir,
        workDir: staging,
        paths: mount.paths,
        skipped: plan.skipped,
        fileServer: mount.server?.name,
        since: new Date().toISOString(),
      };
      this.#byName.set(name, { status, mount, entries });
      log.info('mounted', { name, dir, paths: mount.paths.length });
      return this.list().find((m) => m.name === name) as MountStatus;
    } finally {
      this.#busy.delete(name);
    }
  }

  /**
   * Undoes a mount's journal entries, newest first: each sshfs stopped (it unmounts; a process
   * still inside the mount cannot keep it alive), then the directory put back. Rejects with the
   * first failure; what failed stays journaled for `kvpn down`.
   */
  async #undo(entries: JournalEntry[]): Promise<void> {
    const { journal, log } = this.#o;
    let first: Error | undefined;
    for (const e of [...entries].reverse()) {
      const c = e.change;
      try {
        if (c.kind === 'process') await stopProcess(c.pid, c.startTime);
        else if (c.kind === 'mount') await removeMount(c);
        journal.forget(e);
        entries.splice(entries.indexOf(e), 1);
      } catch (err) {
        log.warn('mount cleanup failed; `kvpn down` retries', { error: (err as Error).message });
        first ??= err as Error;
      }
    }
    if (first) throw first;
  }

  async unmount(name: string): Promise<{ name: string; dir: string }> {
    const m = this.#byName.get(name);
    if (!m)
      throw userError(
        'KVPN_ERR_MOUNT_UNKNOWN',
        `this session has no mount named "${name}"`,
        'See `kvpn status` for its mounts.',
      );
    await m.mount.close();
    await this.#undo(m.entries);
    this.#byName.delete(name);
    this.#o.log.info('unmounted', { name });
    return { name, dir: m.status.dir };
  }

  /** Stops watching; `down` then undoes the journal (which detaches the mounts). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const m of this.#byName.values()) await m.mount.close();
    this.#byName.clear();
  }
}

export function parseMountRequest(params: Record<string, unknown> | undefined): MountRequest {
  const p = params ?? {};
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    workload: String(p.workload ?? ''),
    container: text(p.container),
    pod: text(p.pod),
    dir: String(p.dir ?? ''),
    rw: p.rw === true,
    only: Array.isArray(p.only) ? p.only.map(String) : undefined,
    name: text(p.name),
    filesImage: text(p.filesImage),
  };
}
