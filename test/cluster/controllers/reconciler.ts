// Controllers here reconcile everything they own whenever something they
// watch changes, coalesced to one pass per event-loop turn. The worlds are
// small (tens of objects), so full passes are cheap and easy to trust.
import type { StoreEvent } from '../apiserver/objects.js';
import type { Store } from '../apiserver/store.js';

export abstract class Reconciler {
  protected readonly store: Store;
  #scheduled = false;
  #unsubscribe: (() => void) | undefined;
  #watched: Set<string>;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(store: Store, watched: string[]) {
    this.store = store;
    this.#watched = new Set(watched);
  }

  start(): void {
    this.#unsubscribe = this.store.subscribe((e) => this.#onEvent(e));
    this.trigger();
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
  }

  /** Resolves after the pass in progress (if any) and one more are done. */
  settled(): Promise<void> {
    return this.#running;
  }

  protected onEvent(_e: StoreEvent): void {}

  #onEvent(e: StoreEvent): void {
    if (!this.#watched.has(e.key)) return;
    this.onEvent(e);
    this.trigger();
  }

  trigger(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    this.#running = this.#running.then(
      () =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            this.#scheduled = false;
            if (this.#stopped) return resolve();
            Promise.resolve()
              .then(() => this.reconcile())
              .catch((err) => this.onError(err))
              .finally(resolve);
          }),
        ),
    );
  }

  protected onError(err: unknown): void {
    process.stderr.write(`${this.constructor.name}: ${(err as Error)?.stack ?? err}\n`);
  }

  protected abstract reconcile(): void | Promise<void>;
}
