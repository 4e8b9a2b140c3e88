// Fail open when a laptop vanishes (kill -9, sleep, a frozen network): every
// carrier that holds a registration or a parked stream gets an HTTP/2 PING
// each intervalMs; one not acknowledged within timeoutMs destroys the
// carrier, and with it its registrations and parked streams, so traffic goes
// to the pods again within interval + timeout.
import type http2 from 'node:http2';

interface Watched {
  holds: number;
  interval: NodeJS.Timeout;
  deadline: NodeJS.Timeout | undefined;
}

export class Heartbeat {
  readonly #watched = new Map<http2.Http2Session, Watched>();
  /** Sessions already listened to for 'close' (a carrier may be watched, released and watched again). */
  readonly #closeHooked = new WeakSet<http2.Http2Session>();
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #onTimeout: (session: http2.Http2Session) => void;

  constructor(intervalMs: number, timeoutMs: number, onTimeout: (session: http2.Http2Session) => void) {
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    this.#onTimeout = onTimeout;
  }

  /** Watches `session` until every hold is released (or it closes); returns the release, idempotent. */
  hold(session: http2.Http2Session): () => void {
    let w = this.#watched.get(session);
    if (!w) {
      const created: Watched = {
        holds: 0,
        interval: setInterval(() => this.#ping(session, created), this.#intervalMs),
        deadline: undefined,
      };
      created.interval.unref();
      w = created;
      this.#watched.set(session, created);
      if (!this.#closeHooked.has(session)) {
        this.#closeHooked.add(session);
        session.once('close', () => this.#unwatch(session));
      }
    }
    w.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const cur = this.#watched.get(session);
      if (cur && --cur.holds === 0) this.#unwatch(session);
    };
  }

  get watched(): number {
    return this.#watched.size;
  }

  close(): void {
    for (const s of [...this.#watched.keys()]) this.#unwatch(s);
  }

  #ping(session: http2.Http2Session, w: Watched): void {
    if (w.deadline || session.destroyed || session.closed) return;
    w.deadline = setTimeout(() => {
      w.deadline = undefined;
      this.#unwatch(session);
      this.#onTimeout(session);
      session.destroy();
    }, this.#timeoutMs);
    w.deadline.unref();
    try {
      session.ping((err) => {
        if (err) return; // the session is going away; its close unwatches it
        clearTimeout(w.deadline);
        w.deadline = undefined;
      });
    } catch {
      // ERR_HTTP2_INVALID_SESSION: destroyed in between; 'close' follows.
    }
  }

  #unwatch(session: http2.Http2Session): void {
    const w = this.#watched.get(session);
    if (!w) return;
    this.#watched.delete(session);
    clearInterval(w.interval);
    clearTimeout(w.deadline);
  }
}
