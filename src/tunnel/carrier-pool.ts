// The N HTTP/2 connections (carriers) behind the tunnel (docs/design.md §5): each slot
// connects, serves until its carrier is lost, backs off, reconnects.
//
//   slot i:  connect ─► up ─(lost: its streams are reset)─► backoff ─► connect …
//            open failed ─► transport.recover() (e.g. recreate the relay pod) ─► backoff
//
// carrier() hands out the least-loaded carrier that is up, waiting for one
// if none is; the pool reports 'connecting' | 'up' | 'degraded' | 'down' | 'closed'.
import type { Duplex } from 'node:stream';
import { KvpnError } from '../errors.js';
import { Carrier, type CarrierKind, type TunnelCarrier } from './carrier.js';
import { MuxCarrier, RelayWithoutMuxError } from './mux-carrier.js';
import type { TunnelTransport } from './transport.js';

export const BACKOFF_MIN_MS = 200;
export const BACKOFF_MAX_MS = 10_000;

export type TunnelState = 'connecting' | 'up' | 'degraded' | 'down' | 'closed';

export interface TunnelStateChange {
  state: TunnelState;
  carriersUp: number;
  carriersWanted: number;
  /** Why carriers are missing, when they are. */
  error?: Error | undefined;
}

export interface CarrierStats {
  carriersWanted: number;
  carriersUp: number;
  carriersOpened: number;
  carriersLost: number;
  carrierOpenFailures: number;
  recoveries: number;
}

export interface CarrierPoolOptions {
  carriers: number;
  /** The carrier to open (default h2); a relay without the mux gets HTTP/2 carriers instead. */
  kind?: CarrierKind;
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
  carrier: TunnelCarrier | undefined;
  connecting: boolean;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

interface Waiter {
  resolve(carrier: TunnelCarrier): void;
  reject(err: Error): void;
}

export class CarrierPool {
  readonly #transport: TunnelTransport;
  readonly #opts: CarrierPoolOptions;
  readonly #stats: CarrierStats;
  readonly #slots: Slot[];
  readonly #abort = new AbortController();
  readonly #waiters = new Set<Waiter>();
  readonly #listeners = new Set<(change: TunnelStateChange) => void>();
  #state: TunnelState = 'connecting';
  #everUp = false;
  #lastError: Error | undefined;
  #reportedError: string | undefined;
  #recovering: Promise<void> | undefined;
  #carrierSeq = 0;
  #roundRobin = 0;
  #kind: CarrierKind;

  /** `stats` is updated in place (the dialer's stats object). */
  constructor(transport: TunnelTransport, opts: CarrierPoolOptions, stats: CarrierStats) {
    this.#transport = transport;
    this.#opts = opts;
    this.#stats = stats;
    this.#kind = opts.kind ?? 'h2';
    this.#slots = Array.from({ length: opts.carriers }, (_, index) => ({
      index,
      carrier: undefined,
      connecting: false,
      failures: 0,
      timer: undefined,
    }));
    for (const slot of this.#slots) void this.#connect(slot);
  }

  get state(): TunnelState {
    return this.#state;
  }

  /** Why carriers failed last (for errors and status). */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  get closed(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Open streams per carrier that is up. */
  loads(): number[] {
    return this.#slots.flatMap((slot) => (slot.carrier && !slot.carrier.closed ? [slot.carrier.activeStreams] : []));
  }

  onStateChange(listener: (change: TunnelStateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops reconnecting and ends every carrier with `end` (close or destroy). */
  shutdown(end: (s: TunnelCarrier) => void): void {
    if (!this.#abort.signal.aborted) this.#abort.abort(new TunnelClosedError());
    for (const slot of this.#slots) {
      clearTimeout(slot.timer);
      if (slot.carrier) end(slot.carrier);
    }
    this.#failWaiters(new TunnelClosedError());
    this.#setState('closed');
  }

  /** The least-loaded carrier that is up, waiting for one if needed. */
  /** The kind of carrier being opened now (mux falls back to h2 for an older relay). */
  get kind(): CarrierKind {
    return this.#kind;
  }

  carrier(signal: AbortSignal): Promise<TunnelCarrier> {
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

  #pick(): TunnelCarrier | undefined {
    let best: TunnelCarrier | undefined;
    const n = this.#slots.length;
    this.#roundRobin = (this.#roundRobin + 1) % n;
    for (let i = 0; i < n; i++) {
      const s = this.#slots[(this.#roundRobin + i) % n]?.carrier;
      if (s && !s.closed && (!best || s.activeStreams < best.activeStreams)) best = s;
    }
    return best;
  }

  async #connect(slot: Slot): Promise<void> {
    if (this.#abort.signal.aborted || slot.connecting) return;
    slot.connecting = true;
    try {
      const socket = await this.#transport.connect(this.#abort.signal);
      const carrier = await this.#open(socket);
      slot.connecting = false;
      if (this.#abort.signal.aborted) {
        carrier.destroy();
        return;
      }
      slot.carrier = carrier;
      slot.failures = 0;
      this.#stats.carriersOpened++;
      this.#stats.carriersUp++;
      this.#everUp = true;
      carrier.onClose((err) => this.#lost(slot, carrier, err));
      for (const w of this.#waiters) w.resolve(carrier);
      this.#waiters.clear();
      this.#updateState();
    } catch (err) {
      slot.connecting = false;
      if (this.#abort.signal.aborted) return;
      slot.failures++;
      this.#stats.carrierOpenFailures++;
      this.#lastError = err as Error;
      this.#updateState();
      // Credentials or RBAC: waiting will not help, so whoever waits learns now
      // (the slots keep retrying in case it gets fixed).
      if (isPermanent(err)) this.#failWaiters(err as Error);
      await this.#recover(err as Error);
      this.#retry(slot);
    }
  }

  async #open(socket: Duplex): Promise<TunnelCarrier> {
    const options = { token: this.#transport.token, pingIntervalMs: this.#opts.pingIntervalMs };
    if (this.#kind === 'h2') return Carrier.open(++this.#carrierSeq, socket, options);
    try {
      return await MuxCarrier.open(++this.#carrierSeq, socket, options);
    } catch (err) {
      if (!(err instanceof RelayWithoutMuxError)) throw err;
      // A relay from before tunnel protocol 2: keep working with it over HTTP/2.
      this.#kind = 'h2';
      this.#lastError = err;
      throw err;
    }
  }

  #failWaiters(err: Error): void {
    for (const w of this.#waiters) w.reject(err);
    this.#waiters.clear();
  }

  #lost(slot: Slot, carrier: TunnelCarrier, err: Error | undefined): void {
    if (slot.carrier !== carrier) return;
    slot.carrier = undefined;
    this.#stats.carriersUp--;
    if (this.#abort.signal.aborted) return;
    this.#stats.carriersLost++;
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
    const up = this.#stats.carriersUp;
    const wanted = this.#stats.carriersWanted;
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
      carriersUp: this.#stats.carriersUp,
      carriersWanted: this.#stats.carriersWanted,
      error,
    };
    for (const l of this.#listeners) l(change);
  }
}
