// The state file: who the session is and every change it made to the OS
// and the cluster, written BEFORE each change is made (write-ahead), so
// `kvpn down` can undo all of it after a crash or kill -9. Undo of every
// kind is idempotent, so an entry for a change that never happened costs
// nothing. Writes are atomic (temp file, fsync, rename) and synchronous:
// the journal is on disk before the change it describes begins.
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { ResolverRecord } from '../dns/index.js';
import { KvpnError, systemErrorCode } from '../errors.js';
import type { FilledDir } from '../volumes/index.js';

export const STATE_VERSION = 1;

/** One change to the OS or the cluster, with what undoing it needs. */
export type Change =
  | { kind: 'process'; pid: number; startTime?: string | undefined; what: string }
  | { kind: 'file'; path: string; what: string }
  | { kind: 'link'; device: string }
  | { kind: 'route'; destination: string; device: string }
  /** The resolver change; this entry is its only record (dns/system-dns.ts). */
  | ({ kind: 'dns' } & ResolverRecord)
  | { kind: 'kube-object'; apiPath: string; what: string }
  /** The relay of a session: its pods (found by label), ConfigMap and Secret. */
  | { kind: 'relay'; namespace: string; sessionId: string }
  /** A Service `kvpn expose` made; removed only while it still carries the session's label. */
  | { kind: 'exposed-service'; namespace: string; name: string; sessionId: string }
  /**
   * An intercept: its lease ConfigMap (deleted while it carries the session's label) and the
   * Service it redirected, with the selector the Service had (restored by the last one out).
   */
  /**
   * A `kvpn mount`: every mount under `dir` is detached, then what kvpn made there removed (`dir`
   * itself if kvpn created it, else its `entries`), only while `dir` is still that directory.
   */
  | ({ kind: 'mount' } & FilledDir)
  | {
      kind: 'intercept';
      namespace: string;
      service: string;
      lease: string;
      sessionId: string;
      selector: Record<string, string>;
    };

export interface JournalEntry {
  seq: number;
  at: string;
  change: Change;
}

/** What `down` needs to reach the same cluster and OS again. */
export interface SessionFacts {
  id: string;
  context: string;
  namespace: string;
  cluster: string;
  server: string;
  /** The kubeconfig path list the session was started with (`:`-separated), if explicit. */
  kubeconfig?: string | undefined;
  /** Network namespace name for link/route commands (in-process tests only). */
  netns?: string | undefined;
  /** The invoking user, when kvpn was started through sudo. */
  owner?: { uid: number; gid: number } | undefined;
  socket: string;
  logFile: string;
  createdAt: string;
  /** The process that runs the session (daemon or foreground), and its kernel start time. */
  ownerPid: number;
  ownerStart?: string | undefined;
}

export interface SessionState extends SessionFacts {
  version: number;
  changes: JournalEntry[];
}

export class SessionExistsError extends KvpnError {
  readonly existing: SessionState | undefined;
  constructor(context: string, existing: SessionState | undefined) {
    super('KVPN_ERR_SESSION_EXISTS', 'user', `a kvpn session for context "${context}" is already running`, {
      remedy: `Use it (kvpn status), or stop it first with \`kvpn down --context ${context}\`.`,
    });
    this.existing = existing;
  }
}

export class StateFileError extends KvpnError {
  constructor(path: string, cause: unknown) {
    super('KVPN_ERR_STATE_FILE', 'system', `cannot use the state file ${path}: ${(cause as Error).message}`, {
      cause,
      remedy: 'Check that the state directory (KVPN_STATE_DIR or --state-dir) is writable by root.',
    });
  }
}

function writeDurably(path: string, data: string): string {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {}
}

export function readState(path: string): SessionState {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as SessionState;
  if (parsed.version !== STATE_VERSION || !Array.isArray(parsed.changes)) {
    throw new Error(`unsupported state file version ${String(parsed.version)}`);
  }
  return parsed;
}

/** Every state file in a sessions directory (unreadable ones are skipped and reported). */
export function listStates(sessionsDir: string): { path: string; state?: SessionState; error?: Error }[] {
  let names: string[];
  try {
    names = readdirSync(sessionsDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => {
      const path = join(sessionsDir, n);
      try {
        return { path, state: readState(path) };
      } catch (err) {
        return { path, error: err as Error };
      }
    });
}

export class StateJournal {
  readonly path: string;
  #state: SessionState;
  #seq: number;
  #removed = false;

  private constructor(path: string, state: SessionState) {
    this.path = path;
    this.#state = state;
    this.#seq = state.changes.reduce((max, e) => Math.max(max, e.seq), 0);
  }

  /**
   * Creates the state file exclusively: it doubles as the one-session-per-
   * context lock. Throws SessionExistsError when one is already there.
   */
  static create(path: string, facts: SessionFacts): StateJournal {
    const state: SessionState = { version: STATE_VERSION, ...facts, changes: [] };
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const tmp = writeDurably(path, `${JSON.stringify(state, null, 2)}\n`);
      try {
        linkSync(tmp, path);
      } finally {
        unlinkSync(tmp);
      }
      syncDir(dirname(path));
    } catch (err) {
      if (systemErrorCode(err) === 'EEXIST') {
        let existing: SessionState | undefined;
        try {
          existing = readState(path);
        } catch {}
        throw new SessionExistsError(facts.context, existing);
      }
      throw new StateFileError(path, err);
    }
    return new StateJournal(path, state);
  }

  /** Opens an existing state file, to undo what it records. */
  static open(path: string): StateJournal {
    try {
      return new StateJournal(path, readState(path));
    } catch (err) {
      throw new StateFileError(path, err);
    }
  }

  get state(): Readonly<SessionState> {
    return this.#state;
  }

  get entries(): readonly JournalEntry[] {
    return this.#state.changes;
  }

  /** Journals a change before it is made. */
  record(change: Change, now: Date = new Date()): JournalEntry {
    const entry: JournalEntry = { seq: ++this.#seq, at: now.toISOString(), change };
    this.#state = { ...this.#state, changes: [...this.#state.changes, entry] };
    this.#persist();
    return entry;
  }

  /** Drops an entry once its change has been undone. */
  forget(entry: JournalEntry): void {
    const changes = this.#state.changes.filter((e) => e.seq !== entry.seq);
    if (changes.length === this.#state.changes.length) return;
    this.#state = { ...this.#state, changes };
    this.#persist();
  }

  /** Updates session facts (e.g. the daemon pid once known). */
  update(facts: Partial<SessionFacts>): void {
    this.#state = { ...this.#state, ...facts };
    this.#persist();
  }

  /** Removes the state file; only call when every change has been undone. */
  remove(): void {
    if (this.#removed) return;
    this.#removed = true;
    try {
      unlinkSync(this.path);
      syncDir(dirname(this.path));
    } catch (err) {
      if (systemErrorCode(err) !== 'ENOENT') throw new StateFileError(this.path, err);
    }
  }

  #persist(): void {
    if (this.#removed) return;
    try {
      const tmp = writeDurably(this.path, `${JSON.stringify(this.#state, null, 2)}\n`);
      renameSync(tmp, this.path);
      syncDir(dirname(this.path));
    } catch (err) {
      throw new StateFileError(this.path, err);
    }
  }
}
