// A pod volume built on the laptop from API objects and kept live, as the
// kubelet keeps it:
//
//   GET ConfigMaps/Secrets/pod ─► projectVolume (pure) ─► AtomicWriter
//        ▲ every pollMs; nothing projected while resourceVersions stay the same
//
// Polling, not watching: one GET per object per poll survives API restarts,
// expired resourceVersions and deleted-then-recreated objects with no state,
// and bounds the delay from an update to the local file by pollMs plus one
// round trip. While live, a failure (API unreachable, a non-optional object
// deleted) is counted and reported through onError, and the last good
// content stays, as it does in the pod. An optional object deleted reads as
// empty, as the kubelet reads it.
import { chown, mkdir, stat } from 'node:fs/promises';
import { KvpnError, systemErrorCode } from '../errors.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import type { Node, Pod } from '../workload/index.js';
import { AtomicWriter, type Owner } from './atomic-writer.js';
import { MountError, mountForbidden } from './errors.js';
import { type ConfigMapObject, type ProjectionInputs, projectVolume, type SecretObject } from './projection.js';
import {
  type ApiVolumeSpec,
  asApiVolume,
  downwardFiles,
  type PodVolumeLike,
  referencedObjects,
} from './volume-kinds.js';

export const DEFAULT_POLL_MS = 1000;

/** What ApiVolume needs of a KubeClient (tests pass a fake). */
export type ApiVolumeClient = Pick<KubeClient, 'namespace' | 'request'>;

export interface ApiVolumeOptions {
  namespace: string;
  podName: string;
  volume: PodVolumeLike;
  /** The container the volume is mounted in (messages only: resourceFieldRef names its own). */
  containerName: string;
  /** The local directory the files appear in; created when missing. */
  targetDir: string;
  /** The laptop user: every file, dir and link is theirs. */
  owner: Owner;
  pollMs?: number;
  onError?: (err: Error) => void;
  onUpdate?: () => void;
}

export interface ApiVolumeStatus {
  /** When the files were last (re)written; the open time for the first write. */
  lastUpdate: Date;
  /** How many times the files were (re)written, the first write included. */
  updates: number;
  /** Failed refreshes since open, each poll counted. */
  errors: number;
  lastError?: string;
}

/** The volume is not one kvpn builds from the API (volume-kinds.ts says 'pod'). */
export class MountNotApiVolumeError extends MountError {
  constructor(volume: string) {
    super('KVPN_ERR_MOUNT_NOT_API_VOLUME', 'internal', `volume "${volume}" is not built from API objects`, {
      remedy: 'Report this: kvpn should have read this volume from the pod.',
    });
  }
}

/** The pod whose downward API files the volume holds is gone. */
export class MountPodGoneError extends MountError {
  constructor(namespace: string, pod: string) {
    super('KVPN_ERR_MOUNT_POD_GONE', 'cluster', `pod "${namespace}/${pod}" does not exist (any more)`, {
      remedy: 'Mount again: kvpn picks a running pod of the workload.',
    });
  }
}

/** Reading the volume's objects failed for another reason than their absence. */
export class MountApiError extends MountError {
  constructor(doing: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    const remedy =
      (cause instanceof KvpnError ? cause.remedy : undefined) ?? 'Check that `kubectl get` works for the same objects.';
    super('KVPN_ERR_MOUNT_API', cause instanceof KvpnError ? cause.category : 'cluster', `${doing}: ${detail}`, {
      cause,
      remedy,
    });
  }
}

/** Writing the files on the laptop failed. */
export class MountWriteError extends MountError {
  constructor(dir: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super('KVPN_ERR_MOUNT_WRITE', 'system', `cannot write the volume's files in ${dir}: ${detail}`, {
      cause,
      remedy: 'Check the directory is on a local disk with free space, and that kvpn may write and chown there.',
    });
  }
}

interface Snapshot {
  inputs: ProjectionInputs;
  /** Every object's resourceVersion (or its absence): equal snapshots project equal files. */
  versions: string;
}

export class ApiVolume {
  readonly #client: ApiVolumeClient;
  readonly #options: ApiVolumeOptions;
  readonly #spec: ApiVolumeSpec;
  readonly #writer: AtomicWriter;
  readonly #pollMs: number;
  readonly #abort = new AbortController();
  readonly #refs: { configMaps: string[]; secrets: string[] };
  readonly #needsPod: boolean;
  readonly #needsNode: boolean;
  #node: { name: string; node: Node | undefined } | undefined;
  #versions = '';
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #failing = false;
  #status: ApiVolumeStatus = { lastUpdate: new Date(0), updates: 0, errors: 0 };

  private constructor(client: ApiVolumeClient, options: ApiVolumeOptions, spec: ApiVolumeSpec) {
    this.#client = client;
    this.#options = options;
    this.#spec = spec;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.#writer = new AtomicWriter(options.targetDir, { owner: options.owner });
    this.#refs = referencedObjects(options.volume);
    const files = downwardFiles(spec);
    this.#needsPod = files.length > 0;
    this.#needsNode = files.some((f) => f.resourceFieldRef);
  }

  /** Reads the objects, writes the files, and keeps them live until close(). */
  static async open(client: ApiVolumeClient, options: ApiVolumeOptions): Promise<ApiVolume> {
    const spec = asApiVolume(options.volume);
    if (!spec) throw new MountNotApiVolumeError(options.volume.name);
    const volume = new ApiVolume(client, options, spec);
    await volume.#prepareTarget();
    const snapshot = await volume.#read();
    await volume.#apply(snapshot);
    volume.#schedule();
    return volume;
  }

  status(): ApiVolumeStatus {
    return { ...this.#status };
  }

  /** Stops refreshing; the files stay. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
  }

  async #prepareTarget(): Promise<void> {
    const dir = this.#options.targetDir;
    try {
      await stat(dir);
    } catch (err) {
      if (systemErrorCode(err) !== 'ENOENT') throw new MountWriteError(dir, err);
      try {
        await mkdir(dir, { recursive: true, mode: 0o755 });
        await chown(dir, this.#options.owner.uid, this.#options.owner.gid);
      } catch (mkdirErr) {
        throw new MountWriteError(dir, mkdirErr);
      }
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#poll(), this.#pollMs);
  }

  async #poll(): Promise<void> {
    this.#timer = undefined;
    try {
      const snapshot = await this.#read();
      if (this.#closed) return;
      if (snapshot.versions !== this.#versions) await this.#apply(snapshot);
      this.#failing = false;
    } catch (err) {
      if (this.#closed) return;
      this.#fail(err as Error);
    } finally {
      this.#schedule();
    }
  }

  /** Counts each failure; reports the first of a run and each change of message. */
  #fail(err: Error): void {
    this.#status.errors++;
    const repeated = this.#failing && this.#status.lastError === err.message;
    this.#failing = true;
    this.#status.lastError = err.message;
    if (!repeated) this.#options.onError?.(err);
  }

  async #apply(snapshot: Snapshot): Promise<void> {
    const payload = projectVolume(this.#spec, snapshot.inputs);
    let swapped: boolean;
    try {
      swapped = await this.#writer.write(payload);
    } catch (err) {
      throw err instanceof KvpnError ? err : new MountWriteError(this.#options.targetDir, err);
    }
    this.#versions = snapshot.versions;
    if (swapped || this.#status.updates === 0) {
      this.#status.updates++;
      this.#status.lastUpdate = new Date();
      if (swapped) this.#options.onUpdate?.();
    }
  }

  async #read(): Promise<Snapshot> {
    const ns = this.#options.namespace;
    const base = `/api/v1/namespaces/${encodeURIComponent(ns)}`;
    const [configMaps, secrets, pod] = await Promise.all([
      Promise.all(
        this.#refs.configMaps.map((name) =>
          this.#get<ConfigMapObject>(`${base}/configmaps/${encodeURIComponent(name)}`, `read ConfigMap "${name}"`),
        ),
      ),
      Promise.all(
        this.#refs.secrets.map((name) =>
          this.#get<SecretObject>(`${base}/secrets/${encodeURIComponent(name)}`, `read Secret "${name}"`),
        ),
      ),
      this.#needsPod
        ? this.#get<Pod>(
            `${base}/pods/${encodeURIComponent(this.#options.podName)}`,
            `read pod "${this.#options.podName}"`,
          )
        : Promise.resolve(undefined),
    ]);
    if (this.#needsPod && !pod) throw new MountPodGoneError(ns, this.#options.podName);
    const node = pod && this.#needsNode ? await this.#readNode(pod.spec.nodeName) : undefined;
    const rv = (o: { metadata: { resourceVersion?: string } } | undefined) =>
      o ? (o.metadata.resourceVersion ?? '?') : '-';
    const versions = [
      ...this.#refs.configMaps.map((n, i) => `cm/${n}=${rv(configMaps[i])}`),
      ...this.#refs.secrets.map((n, i) => `secret/${n}=${rv(secrets[i])}`),
      `pod=${rv(pod as { metadata: { resourceVersion?: string } } | undefined)}`,
      `node=${node ? 'read' : '-'}`,
    ].join(' ');
    return {
      inputs: {
        namespace: ns,
        configMaps: new Map(this.#refs.configMaps.map((n, i) => [n, configMaps[i]])),
        secrets: new Map(this.#refs.secrets.map((n, i) => [n, secrets[i]])),
        pod,
        node,
      },
      versions,
    };
  }

  /**
   * The node's allocatable stands in for unset limits in resourceFieldRef.
   * Read once per node name, and optional: a namespaced user may not read
   * nodes, and the value only needs it when a limit is unset.
   */
  async #readNode(name: string | undefined): Promise<Node | undefined> {
    if (!name) return undefined;
    if (this.#node?.name !== name) {
      let node: Node | undefined;
      try {
        node = await this.#client.request<Node>('GET', `/api/v1/nodes/${encodeURIComponent(name)}`, {
          signal: this.#abort.signal,
        });
      } catch {
        node = undefined;
      }
      this.#node = { name, node };
    }
    return this.#node.node;
  }

  /** One GET; a 404 is `undefined` (the object does not exist). */
  async #get<T>(path: string, doing: string): Promise<T | undefined> {
    try {
      return await this.#client.request<T>('GET', path, { signal: this.#abort.signal });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      if (err instanceof KubeApiError && err.status === 403) throw mountForbidden(err, this.#options.namespace, doing);
      throw new MountApiError(`cannot ${doing} in namespace "${this.#options.namespace}"`, err);
    }
  }
}
