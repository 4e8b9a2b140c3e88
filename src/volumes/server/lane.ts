// Orders the requests of one handle as they arrived, without serialising
// what need not be: consecutive reads run together (sshfs pipelines many
// READs on one file), anything else waits for all before it and holds back
// all after it. draft-02 §6.1 allows replies out of order, not results.

export class Lane {
  /** Done when the last exclusive operation is. */
  #barrier: Promise<unknown> = Promise.resolve();
  /** Shared operations started since that barrier and not yet done. */
  readonly #shared = new Set<Promise<unknown>>();

  /** Runs fn with other shared operations, after the exclusive ones queued before it. */
  shared<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#barrier.then(fn);
    const done: Promise<unknown> = run.then(
      () => this.#shared.delete(done),
      () => this.#shared.delete(done),
    );
    this.#shared.add(done);
    return run;
  }

  /** Runs fn alone, after everything queued before it. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = Promise.all([this.#barrier, ...this.#shared]).then(fn);
    this.#shared.clear();
    this.#barrier = run.catch(() => {});
    return run;
  }
}
