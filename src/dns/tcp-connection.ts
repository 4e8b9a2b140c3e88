// One DNS-over-TCP connection, served as a Duplex: the client's bytes are
// written in, framed answers are read out. The same object serves a real
// socket (socket.pipe(connection).pipe(socket)) and a connection the
// userspace stack hands over through the DNS dialer. Queries are
// pipelined (RFC 7766 §6.2.1) up to a bound; when the reader stops
// reading, we stop taking queries (the write callback is held), so memory
// stays bounded. Idle connections are closed (RFC 7766 §6.2.3).
import { Duplex } from 'node:stream';
import type { Endpoint } from '../tun/stack/index.js';
import type { Transport } from './response.js';
import { FrameDecoder, frame } from './tcp-framing.js';

export type QueryHandler = (
  message: Uint8Array,
  client: Endpoint,
  transport: Transport,
  reply: (response: Buffer | undefined) => void,
) => void;

export const TCP_IDLE_TIMEOUT_MS = 10_000;
export const TCP_MAX_IN_FLIGHT = 64;

export interface DnsTcpConnectionOptions {
  idleTimeoutMs?: number;
  maxInFlight?: number;
}

export class DnsTcpConnection extends Duplex {
  readonly #handle: QueryHandler;
  readonly #client: Endpoint;
  readonly #maxInFlight: number;
  readonly #decoder = new FrameDecoder();
  #inFlight = 0;
  #readerBlocked = false;
  #held: ((err?: Error | null) => void) | undefined;
  #clientDone = false;
  #ended = false;
  readonly #idle: NodeJS.Timeout;

  constructor(handle: QueryHandler, client: Endpoint, options: DnsTcpConnectionOptions = {}) {
    super({ allowHalfOpen: true });
    this.#handle = handle;
    this.#client = client;
    this.#maxInFlight = options.maxInFlight ?? TCP_MAX_IN_FLIGHT;
    this.#idle = setTimeout(() => this.#onIdle(), options.idleTimeoutMs ?? TCP_IDLE_TIMEOUT_MS);
    this.#idle.unref();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#idle.refresh();
    this.#decoder.push(chunk);
    this.#held = callback;
    this.#pump();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#clientDone = true;
    this.#maybeEnd();
    callback();
  }

  override _read(): void {
    this.#readerBlocked = false;
    this.#pump();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    clearTimeout(this.#idle);
    callback(err);
  }

  /** Takes queries while there is room; releases the writer once its chunk is consumed. */
  #pump(): void {
    while (!this.destroyed && !this.#readerBlocked && this.#inFlight < this.#maxInFlight) {
      const message = this.#decoder.next();
      if (!message) {
        const cb = this.#held;
        this.#held = undefined;
        cb?.();
        return;
      }
      this.#inFlight++;
      let sync = true;
      let syncAnswer: Buffer | undefined;
      this.#handle(message, this.#client, 'tcp', (response) => {
        if (sync) syncAnswer = response ?? Buffer.alloc(0);
        else this.#answer(response);
      });
      sync = false;
      if (syncAnswer !== undefined) this.#answer(syncAnswer.length ? syncAnswer : undefined);
    }
  }

  #answer(response: Buffer | undefined): void {
    this.#inFlight--;
    if (this.destroyed) return;
    this.#idle.refresh();
    if (response && !this.#ended && !this.push(frame(response))) this.#readerBlocked = true;
    if (this.#held) this.#pump();
    this.#maybeEnd();
  }

  #maybeEnd(): void {
    if (this.#clientDone && this.#inFlight === 0 && !this.#held && !this.#ended) {
      this.#ended = true;
      this.push(null);
    }
  }

  #onIdle(): void {
    if (this.#inFlight > 0) {
      this.#idle.refresh();
      return;
    }
    if (!this.#ended) {
      // Close our side (FIN); a client that still says nothing is cut off one period later.
      this.#ended = true;
      this.push(null);
      this.#idle.refresh();
      return;
    }
    this.destroy();
  }
}
