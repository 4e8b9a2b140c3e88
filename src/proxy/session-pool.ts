// The N HTTP/2 sessions behind the tunnel (DESIGN.md 5): each slot
// connects, serves until its session is lost, backs off, reconnects.
//
//   slot i:  connect ─► up ─(lost: its streams are reset)─► backoff ─► connect …
//            open failed ─► transport.recover() (e.g. recreate the relay pod) ─► backoff
//
// session() hands out the least-loaded session that is up, waiting for one
// if none is; the pool reports 'connecting' | 'up' | 'degraded' | 'down' | 'closed'.
import { KvpnError } from '../errors.js';
import { TunnelSession } from './tunnel-session.js';
import type { TunnelTransport } from './tunnel-transport.js';

export const BACKOFF_MIN_MS = 200;
export const BACKOFF_MAX_MS = 10_000;

export type TunnelState = 'connecting' | 'up' | 'degraded' | 'down' | 'closed';

export interface TunnelStateChange {
  state: TunnelState;
  sessionsUp: number;
  sessionsWanted: number;
  /** Why sessions are missing, when they are. */
  error?: Error | undefined;
}

export interface SessionStats {
  sessionsWanted: number;
  sessionsUp: number;
  sessionsOpened: number;
  sessionsLost: number;
  sessionOpenFailures: number;
  recoveries: number;
}

export interface SessionPoolOptions {
  sessions: number;
  pingIntervalMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
}

/** A failure the user must fix (credentials, RBAC, configuration); retrying alone will not. */
function isPermanent(err: unknown): boolean {
  return err instanceof KvpnError && (err.category === 'user' || err.category === 'config');
}

export class TunnelClosedError extends KvpnError {
  constructor() {
    super('KVPN_ERR_TUNNEL_CLOSED', 'internal', 'the tunnel is closed');
  }
}

interface Slot {
  index: number;
  session: TunnelSession | undefined;
  connecting: boolean;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

interface Waiter {
  resolve(session: TunnelSession): void;
  reject(err: Error): void;
}

export class SessionPool {
  readonly #transport: TunnelTransport;
  readonly #opts: SessionPoolOptions;
  readonly #stats: SessionStats;
  readonly #slots: Slot[];
  readonly #abort = new AbortController();
  readonly #waiters = new Set<Waiter>();
  readonly #listeners = new Set<(change: TunnelStateChange) => void>();
  #state: TunnelState = 'connecting';
  #everUp = false;
  #lastError: Error | undefined;
  #reportedError: string | undefined;
  #recovering: Promise<void> | undefined;
  #sessionSeq = 0;
  #roundRobin = 0;

  /** `stats` is updated in place (the dialer's stats object). */
  constructor(transport: TunnelTransport, opts: SessionPoolOptions, stats: SessionStats) {
    this.#transport = transport;
    this.#opts = opts;
    this.#stats = stats;
    this.#slots = Array.from({ length: opts.sessions }, (_, index) => ({
      index,
      session: undefined,
      connecting: false,
      failures: 0,
      timer: undefined,
    }));
    for (const slot of this.#slots) void this.#connect(slot);
  }

  get state(): TunnelState {
    return this.#state;
  }

  /** Why sessions failed last (for errors and status). */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  get closed(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Open streams per session that is up. */
  loads(): number[] {
    return this.#slots.flatMap((slot) => (slot.session && !slot.session.closed ? [slot.session.activeStreams] : []));
  }

  onStateChange(listener: (change: TunnelStateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops reconnecting and ends every session with `end` (close or destroy). */
  shutdown(end: (s: TunnelSession) => void): void {
    if (!this.#abort.signal.aborted) this.#abort.abort(new TunnelClosedError());
    for (const slot of this.#slots) {
      clearTimeout(slot.timer);
      if (slot.session) end(slot.session);
    }
    this.#failWaiters(new TunnelClosedError());
    this.#setState('closed');
  }

  /** The least-loaded session that is up, waiting for one if needed. */
  session(signal: AbortSignal): Promise<TunnelSession> {
    if (this.#abort.signal.aborted) return Promise.reject(new TunnelClosedError());
    const best = this.#pick();
    if (best) return Promise.resolve(best);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (s) => {
          signal.removeEventListener('abort', onAbort);
          resolve(s);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = (): void => {
        this.#waiters.delete(waiter);
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  #pick(): TunnelSession | undefined {
    let best: TunnelSession | undefined;
    const n = this.#slots.length;
    this.#roundRobin = (this.#roundRobin + 1) % n;
    for (let i = 0; i < n; i++) {
      const s = this.#slots[(this.#roundRobin + i) % n]?.session;
      if (s && !s.closed && (!best || s.activeStreams < best.activeStreams)) best = s;
    }
    return best;
  }

  async #connect(slot: Slot): Promise<void> {
    if (this.#abort.signal.aborted || slot.connecting) return;
    slot.connecting = true;
    try {
      const socket = await this.#transport.connect(this.#abort.signal);
      const session = await TunnelSession.open(++this.#sessionSeq, socket, {
        token: this.#transport.token,
        pingIntervalMs: this.#opts.pingIntervalMs,
      });
      slot.connecting = false;
      if (this.#abort.signal.aborted) {
        session.destroy();
        return;
      }
      slot.session = session;
      slot.failures = 0;
      this.#stats.sessionsOpened++;
      this.#stats.sessionsUp++;
      this.#everUp = true;
      session.onClose((err) => this.#lost(slot, session, err));
      for (const w of this.#waiters) w.resolve(session);
      this.#waiters.clear();
      this.#updateState();
    } catch (err) {
      slot.connecting = false;
      if (this.#abort.signal.aborted) return;
      slot.failures++;
      this.#stats.sessionOpenFailures++;
      this.#lastError = err as Error;
      this.#updateState();
      // Credentials or RBAC: waiting will not help, so whoever waits learns now
      // (the slots keep retrying in case it gets fixed).
      if (isPermanent(err)) this.#failWaiters(err as Error);
      await this.#recover(err as Error);
      this.#retry(slot);
    }
  }

  #failWaiters(err: Error): void {
    for (const w of this.#waiters) w.reject(err);
    this.#waiters.clear();
  }

  #lost(slot: Slot, session: TunnelSession, err: Error | undefined): void {
    if (slot.session !== session) return;
    slot.session = undefined;
    this.#stats.sessionsUp--;
    if (this.#abort.signal.aborted) return;
    this.#stats.sessionsLost++;
    this.#lastError = err;
    this.#updateState();
    this.#retry(slot);
  }

  async #recover(cause: Error): Promise<void> {
    if (!this.#transport.recover) return;
    this.#recovering ??= this.#transport
      .recover(cause, this.#abort.signal)
      .then(
        () => {
          this.#stats.recoveries++;
        },
        (err: Error) => {
          this.#lastError = err;
          this.#updateState();
        },
      )
      .finally(() => {
        this.#recovering = undefined;
      });
    await this.#recovering;
  }

  #retry(slot: Slot): void {
    if (this.#abort.signal.aborted) return;
    const base = Math.min(this.#opts.backoffMaxMs, this.#opts.backoffMinMs * 2 ** Math.max(0, slot.failures - 1));
    const delay = base / 2 + Math.random() * (base / 2);
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => void this.#connect(slot), delay);
  }

  #updateState(): void {
    const up = this.#stats.sessionsUp;
    const wanted = this.#stats.sessionsWanted;
    const state: TunnelState = up === wanted ? 'up' : up > 0 ? 'degraded' : this.#everUp ? 'down' : 'connecting';
    this.#setState(state);
  }

  #setState(state: TunnelState): void {
    const error = state === 'up' || state === 'closed' ? undefined : this.#lastError;
    // Same state: report again only when the reason changed.
    if (state === this.#state && error?.message === this.#reportedError) return;
    this.#state = state;
    this.#reportedError = error?.message;
    const change: TunnelStateChange = {
      state,
      sessionsUp: this.#stats.sessionsUp,
      sessionsWanted: this.#stats.sessionsWanted,
      error,
    };
    for (const l of this.#listeners) l(change);
  }
}
