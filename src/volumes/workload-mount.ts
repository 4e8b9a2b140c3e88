// One `kvpn mount`: a container's volumes under DIR at their mount paths.
//
//   plan ─► API volumes written and kept live (api-volume.ts)
//        ─► pod volumes: file server in the pod ─► forwarder ─► sshfs per mount
//   close: sshfs unmounted, watches stopped (the session removes the files)
//
// Whatever fails half way is undone before the error is thrown.
import {
  chownSync,
  cpSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { KubeClient } from '../kube/client.js';
import { ApiVolume } from './api-volume.js';
import { mountError } from './errors.js';
import { type FileServerHandle, startFileServer } from './file-server.js';
import { FilesForwarder } from './files-forwarder.js';
import type { MountPlan, PlanContainer, PlannedMount, PlanPodSpec } from './mount-plan.js';
import { containerUser } from './mount-plan.js';
import { bindReadOnly, requireFuse, sshfsMount, unmount } from './sshfs-linux.js';

/** chown -R, never following a symlink. */
function chownTree(path: string, owner: { uid: number; gid: number }): void {
  lchownSync(path, owner.uid, owner.gid);
  if (lstatSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), owner);
}

/** The session's logger, as much of it as a mount uses. */
export interface MountLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface WorkloadMountOptions {
  client: KubeClient;
  namespace: string;
  pod: { metadata: { name: string }; spec: PlanPodSpec };
  container: PlanContainer;
  plan: MountPlan;
  /** Where the mount paths appear: DIR/etc/config… */
  dir: string;
  /** Scratch space for volumes a subPath mount takes one file or folder of. */
  stagingDir: string;
  owner: { uid: number; gid: number };
  sessionId: string;
  /** The ephemeral container's name, unique in the pod. */
  serverName: string;
  serverPort: number;
  image: string;
  bundle: () => string;
  idleMs: number;
  log: MountLog;
  /** sshfs started: journal it (stopping it unmounts, from any mount namespace). */
  onProcess(pid: number, what: string): void;
}

export interface MountedPath {
  mountPath: string;
  localPath: string;
  volume: string;
  type: string;
  source: 'api' | 'pod';
  readOnly: boolean;
  /** The part of the volume mounted, when not all of it (an API volume's is a copy, not live: as in the pod). */
  subPath?: string | undefined;
}

export class WorkloadMount {
  readonly paths: MountedPath[] = [];
  readonly #o: WorkloadMountOptions;
  readonly #apiVolumes: ApiVolume[] = [];
  readonly #fuse: string[] = [];
  /** Read-only bind mounts of API volumes. */
  readonly #binds: string[] = [];
  #apiCount = 0;
  #forwarder: FilesForwarder | undefined;
  #server: FileServerHandle | undefined;
  #problem: string | undefined;
  #watch: NodeJS.Timeout | undefined;

  private constructor(o: WorkloadMountOptions) {
    this.#o = o;
  }

  static async open(o: WorkloadMountOptions): Promise<WorkloadMount> {
    const m = new WorkloadMount(o);
    try {
      await m.#open();
      return m;
    } catch (err) {
      await m.close();
      throw err;
    }
  }

  get server(): FileServerHandle | undefined {
    return this.#server;
  }

  /** Why the mount no longer works (the pod went away, the file server exited), if it doesn't. */
  get problem(): string | undefined {
    return this.#problem;
  }

  get apiStatus(): { updates: number; errors: number; lastError?: string | undefined } {
    let updates = 0;
    let errors = 0;
    let lastError: string | undefined;
    for (const v of this.#apiVolumes) {
      const s = v.status();
      updates += s.updates;
      errors += s.errors;
      lastError = s.lastError ?? lastError;
    }
    return { updates, errors, lastError };
  }

  get connections(): number {
    return this.#forwarder?.counters.connections ?? 0;
  }

  async #open(): Promise<void> {
    const o = this.#o;
    const fromPod = o.plan.mounts.filter((m) => m.source === 'pod');
    if (fromPod.length) requireFuse();
    this.#mkdirOwned(o.dir);
    // In the plan's order, parents first: a ConfigMap at /data/config lands inside an emptyDir at /data.
    for (const m of o.plan.mounts) {
      if (m.source === 'api') {
        await this.#mountApi(m);
        continue;
      }
      const forwarder = this.#forwarder ?? (await this.#startFileServer(fromPod));
      const localPath = this.#localPath(m);
      this.#mkdirOwned(localPath);
      // The server's "/" is FILE_SERVER_ROOT, where each volume is a folder.
      const remotePath = `/${[m.volume.name, m.subPath].filter(Boolean).join('/')}`;
      this.#fuse.push(localPath);
      const { pid } = await sshfsMount({
        port: forwarder.port,
        remotePath,
        mountpoint: localPath,
        readOnly: m.readOnly,
        owner: o.owner,
        logFile: join(o.stagingDir, `sshfs-${this.#fuse.length}.log`),
      });
      o.onProcess(pid, `sshfs for ${localPath}`);
      this.paths.push(this.#described(m, localPath));
    }
    if (!fromPod.length) return;
    this.#watch = setInterval(() => void this.#checkPod(), 5_000);
    this.#watch.unref();
  }

  async #startFileServer(fromPod: PlannedMount[]): Promise<FilesForwarder> {
    const o = this.#o;
    const volumes = new Map<string, boolean>();
    for (const m of fromPod) volumes.set(m.volume.name, (volumes.get(m.volume.name) ?? true) && m.readOnly);
    o.log.info('starting the file server in the pod', { pod: o.pod.metadata.name, container: o.serverName });
    this.#server = await startFileServer(
      o.client,
      {
        namespace: o.namespace,
        pod: o.pod.metadata.name,
        name: o.serverName,
        image: o.image,
        port: o.serverPort,
        sessionId: o.sessionId,
        volumes: [...volumes].map(([name, readOnly]) => ({ name, readOnly })),
        user: containerUser(o.pod.spec, o.container),
        idleMs: o.idleMs,
      },
      o.bundle(),
    );
    this.#forwarder = await FilesForwarder.listen(o.client, {
      namespace: o.namespace,
      pod: o.pod.metadata.name,
      port: o.serverPort,
      token: this.#server.token,
    });
    return this.#forwarder;
  }

  #localPath(m: PlannedMount): string {
    const local = join(this.#o.dir, m.mountPath);
    if (relative(this.#o.dir, local).startsWith('..'))
      throw mountError(
        'KVPN_ERR_MOUNT_PATH',
        `mount path ${m.mountPath} leaves the mount directory`,
        'Report this pod spec: its mountPath is not absolute.',
      );
    return local;
  }

  #described(m: PlannedMount, localPath: string): MountedPath {
    return {
      mountPath: m.mountPath,
      localPath,
      volume: m.volume.name,
      type: m.type,
      source: m.source,
      readOnly: m.readOnly,
      ...(m.subPath ? { subPath: m.subPath } : {}),
    };
  }

  async #mountApi(m: PlannedMount): Promise<void> {
    const o = this.#o;
    const localPath = this.#localPath(m);
    const common = {
      namespace: o.namespace,
      podName: o.pod.metadata.name,
      volume: m.volume,
      containerName: o.container.name,
      owner: o.owner,
      onError: (err: Error) => o.log.warn('volume update failed', { mountPath: m.mountPath, error: err.message }),
    };
    // Written in the session's scratch space, shown read-only at the mount path (as the kubelet
    // mounts these); the bind shows each atomic swap as it happens.
    const staged = join(o.stagingDir, `api-${this.#apiCount++}`);
    this.#mkdirOwned(staged);
    const volume = await ApiVolume.open(o.client, { ...common, targetDir: staged });
    let source = staged;
    if (!m.subPath) this.#apiVolumes.push(volume);
    else {
      // The kubelet bind-mounts what the subPath resolves to once: later updates do not reach it.
      volume.close();
      const resolved = realpathSync(join(staged, m.subPath));
      if (!resolved.startsWith(`${realpathSync(staged)}/`))
        throw mountError(
          'KVPN_ERR_MOUNT_PATH',
          `subPath "${m.subPath}" of ${m.mountPath} leaves its volume`,
          'The API server refuses such specs: check the kubeconfig points at a real cluster.',
        );
      source = join(o.stagingDir, `api-${this.#apiCount++}`);
      cpSync(resolved, source, {
        recursive: statSync(resolved).isDirectory(),
        dereference: true,
        preserveTimestamps: true,
      });
      chownTree(source, o.owner);
    }
    if (statSync(source).isDirectory()) this.#mkdirOwned(localPath);
    else {
      this.#mkdirOwned(dirname(localPath));
      writeFileSync(localPath, '', { flag: 'a' });
      chownSync(localPath, o.owner.uid, o.owner.gid);
    }
    await bindReadOnly(source, localPath);
    this.#binds.push(localPath);
    this.paths.push(this.#described(m, localPath));
  }

  /** mkdir -p, with what it made owned by the user. */
  #mkdirOwned(path: string): void {
    const first = mkdirSync(path, { recursive: true, mode: 0o755 });
    if (!first) return;
    for (let p = path; p.length >= first.length; p = dirname(p)) chownSync(p, this.#o.owner.uid, this.#o.owner.gid);
  }

  async #checkPod(): Promise<void> {
    const o = this.#o;
    try {
      const pod = await o.client.request<{
        metadata: { deletionTimestamp?: string };
        status?: { ephemeralContainerStatuses?: { name: string; state?: { terminated?: { reason?: string } } }[] };
      }>(
        'GET',
        `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/pods/${encodeURIComponent(o.pod.metadata.name)}`,
      );
      const ended = pod.status?.ephemeralContainerStatuses?.find((s) => s.name === o.serverName)?.state?.terminated;
      this.#problem = pod.metadata.deletionTimestamp
        ? `pod ${o.pod.metadata.name} is being deleted: its volumes answer EIO`
        : ended
          ? `the file server in pod ${o.pod.metadata.name} exited (${ended.reason ?? 'unknown'}): its volumes answer EIO`
          : undefined;
    } catch (err) {
      const status = (err as { status?: number }).status;
      this.#problem = status === 404 ? `pod ${o.pod.metadata.name} is gone: its volumes answer EIO` : this.#problem;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#watch);
    for (const v of this.#apiVolumes.splice(0)) v.close();
    for (const mp of [...this.#fuse.splice(0), ...this.#binds.splice(0)].reverse())
      await unmount(mp).catch((err: Error) =>
        this.#o.log.warn('unmount failed', { mountpoint: mp, error: err.message }),
      );
    this.#forwarder?.close();
  }
}
