// The router's side of a registration stream (POST /v1/intercepts answered
// 200): ndjson lines to the laptop, never more than the stream takes.
//
//   {"toLaptop":…,"requestsDropped":…}\n  the intercept's counters, when they changed (each statsIntervalMs)
//   {"request":{…}}\n                     a request routed for the intercept, once finished (request-record.ts)
//
// A laptop that reads slowly must not make the router buffer without bound:
// while write() says the stream is full, records are dropped (counted in
// requestsDropped) and the counters line waits; after 'drain' the next
// counters line carries the latest counts.
import type { Writable } from 'node:stream';
import type { InterceptedRequest } from '../../intercept-spec.js';
import type { InterceptCounters } from './intercept-table.js';
import { type RequestSink, recordLine } from './request-record.js';

export class RegistrationStream implements RequestSink {
  readonly #stream: Writable;
  readonly #counters: InterceptCounters;
  readonly #timer: NodeJS.Timeout;
  #seq = 0;
  #full = false;
  #last: string;

  constructor(stream: Writable, counters: InterceptCounters, statsIntervalMs: number) {
    this.#stream = stream;
    this.#counters = counters;
    this.#last = JSON.stringify(counters);
    this.#timer = setInterval(() => this.#sendCounters(), statsIntervalMs);
    this.#timer.unref();
  }

  nextSeq(): number {
    return ++this.#seq;
  }

  send(record: InterceptedRequest): void {
    if (!this.#open) return;
    const line = recordLine(record);
    if (this.#full || line === undefined) {
      this.#counters.requestsDropped++;
      return;
    }
    this.#write(line);
  }

  /** The stream closed: no more lines. */
  close(): void {
    clearInterval(this.#timer);
  }

  get #open(): boolean {
    return !this.#stream.destroyed && !this.#stream.writableEnded;
  }

  #sendCounters(): void {
    const line = JSON.stringify(this.#counters);
    if (line === this.#last || this.#full || !this.#open) return;
    this.#last = line;
    this.#write(`${line}\n`);
  }

  #write(line: string): void {
    if (this.#stream.write(line)) return;
    this.#full = true;
    this.#stream.once('drain', () => {
      this.#full = false;
    });
  }
}
