// The streams a laptop parked for one intercept (CONNECT 0.0.0.0:port +
// kvpn-accept: tcp + kvpn-intercept: id), and the connections or requests
// waiting for one. Taking a stream answers it 200 + kvpn-peer; from then on
// it carries one TCP connection to the laptop's local port.
//
//   park(stream) ─► a waiter takes it at once, else it queues (≤ maxParked)
//   take(peer)   ─► the oldest live parked stream; else wait ≤ waitMs (≤ maxWaiting waiters)
import type http2 from 'node:http2';
import { formatProxyStatus, HEADER_PEER, HEADER_PROXY_STATUS } from '../../protocol.js';

export const MAX_PARKED_PER_INTERCEPT = 64;
export const MAX_WAITING_PER_INTERCEPT = 128;

/** A stream answered 200, or why there is none: the caller sends the traffic to the pods. */
export type Taken = { stream: http2.ServerHttp2Stream } | { stream: undefined; why: 'timeout' | 'gone' | 'full' };

interface Waiter {
  settle(stream: http2.ServerHttp2Stream | undefined, why: 'timeout' | 'gone'): void;
}

export class LaptopStreams {
  readonly #parked: http2.ServerHttp2Stream[] = [];
  readonly #waiting: Waiter[] = [];
  readonly #waitMs: number;
  #closed = false;

  constructor(waitMs: number) {
    this.#waitMs = waitMs;
  }

  get parked(): number {
    return this.#parked.length;
  }
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Holds `stream` until taken; false when the intercept is gone or already holds MAX_PARKED_PER_INTERCEPT. */
  park(stream: http2.ServerHttp2Stream): boolean {
    if (this.#closed || this.#parked.length >= MAX_PARKED_PER_INTERCEPT) return false;
    const waiter = this.#waiting.shift();
    if (waiter) {
      waiter.settle(stream, 'gone');
      return true;
    }
    this.#parked.push(stream);
    stream.once('close', () => {
      const i = this.#parked.indexOf(stream);
      if (i !== -1) this.#parked.splice(i, 1);
    });
    return true;
  }

  /** A parked stream answered `200` + kvpn-peer: `peer`, now or within waitMs. */
  take(peer: string): Promise<Taken> {
    const answer = (stream: http2.ServerHttp2Stream): Taken => {
      stream.respond({ ':status': 200, [HEADER_PEER]: peer });
      return { stream };
    };
    // A parked stream whose carrier just died may not have reported its close yet.
    let stream = this.#parked.shift();
    while (stream && (stream.destroyed || stream.closed)) stream = this.#parked.shift();
    if (stream) return Promise.resolve(answer(stream));
    if (this.#closed) return Promise.resolve({ stream: undefined, why: 'gone' });
    if (this.#waiting.length >= MAX_WAITING_PER_INTERCEPT) return Promise.resolve({ stream: undefined, why: 'full' });
    return new Promise((resolve) => {
      const waiter: Waiter = {
        settle: (s, why) => {
          clearTimeout(timer);
          const i = this.#waiting.indexOf(waiter);
          if (i !== -1) this.#waiting.splice(i, 1);
          if (s && !s.destroyed) resolve(answer(s));
          else resolve({ stream: undefined, why });
        },
      };
      const timer = setTimeout(() => waiter.settle(undefined, 'timeout'), this.#waitMs);
      this.#waiting.push(waiter);
    });
  }

  /** The intercept is gone: parked streams are answered 404 (as parking for an unknown id), waiters go to the pods. */
  close(id: string): void {
    if (this.#closed) return;
    this.#closed = true;
    // A final answer, not RST_STREAM: Node 20's RstStream on a stream that sent only a 102
    // can loop in SendPendingData until the process runs out of memory (seen under load).
    for (const s of this.#parked.splice(0)) {
      if (s.destroyed || s.closed || s.headersSent) continue;
      s.respond(
        {
          ':status': 404,
          [HEADER_PROXY_STATUS]: formatProxyStatus({ error: 'http_request_error', details: `intercept ${id} ended` }),
        },
        { endStream: true },
      );
    }
    for (const w of this.#waiting.slice()) w.settle(undefined, 'gone');
  }
}
