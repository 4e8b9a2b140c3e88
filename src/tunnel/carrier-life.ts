// What a carrier of either kind does alike over its life: a PING every
// interval (no answer by the next one destroys the carrier), and the
// handlers told once, with the reason, when it ends.
import type { KvpnError } from '../errors.js';

/** The part of a session (HTTP/2 or mux) the keepalive needs. */
export interface Pingable {
  readonly destroyed: boolean;
  ping(callback: (err: Error | null) => void): unknown;
}

export class CarrierLife {
  readonly #timer: NodeJS.Timeout | undefined;
  #pingOutstanding = false;
  #handlers: ((err?: Error) => void)[] = [];
  #endedWith: { err?: Error | undefined } | undefined;

  /** `destroy` ends the carrier when a PING goes unanswered. */
  constructor(
    readonly id: number,
    session: Pingable,
    destroy: (err: Error) => void,
    pingIntervalMs: number,
    lost: (message: string) => KvpnError,
  ) {
    if (pingIntervalMs <= 0) return;
    this.#timer = setInterval(() => {
      if (this.#pingOutstanding) {
        destroy(lost(`keepalive: the relay did not answer a PING in time (tunnel connection ${id})`));
        return;
      }
      if (session.destroyed) return;
      this.#pingOutstanding = true;
      session.ping((err) => {
        if (!err) this.#pingOutstanding = false;
      });
    }, pingIntervalMs);
    this.#timer.unref();
  }

  get ended(): boolean {
    return this.#endedWith !== undefined;
  }

  onEnd(handler: (err?: Error) => void): void {
    if (this.#endedWith) handler(this.#endedWith.err);
    else this.#handlers.push(handler);
  }

  end(err?: Error): void {
    if (this.#endedWith) return;
    this.#endedWith = { err };
    clearInterval(this.#timer);
    for (const h of this.#handlers.splice(0)) h(err);
  }
}
