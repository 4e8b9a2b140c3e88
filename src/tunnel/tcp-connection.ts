// One TCP connection through the tunnel, as the Duplex the stack expects
// (src/tun/stack/dialer.ts): a thin adapter over a CONNECT stream that keeps
// TCP's meanings (RFC 9113 §8.5):
//
//   write()/push()   ◄─► DATA frames (both ways paused when the other side is full)
//   end()            ─►  END_STREAM (half-close); END_STREAM from the relay ─► push(null)
//   destroy([err])   ─►  RST_STREAM(CONNECT_ERROR) unless both directions already finished
//   RST_STREAM / carrier lost ─► destroy(DialError-like reset error)
import http2 from 'node:http2';
import { Duplex } from 'node:stream';
import { KvpnError } from '../errors.js';
import { resetStream } from '../relay/stream-reset.js';

const { NGHTTP2_CONNECT_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

export class TunnelResetError extends KvpnError {
  readonly rstCode: number | undefined;
  constructor(message: string, rstCode?: number) {
    super('KVPN_ERR_TUNNEL_RESET', 'cluster', message);
    this.rstCode = rstCode;
  }
}

/**
 * The 'error' listener every client stream needs (an unhandled 'error' would
 * throw; errors are read from the stream's close and its rstCode instead).
 * One function for all: a closure made inside a dial would stay on the stream
 * for its whole life and keep the dial's scope (promise, headers, signal) alive.
 */
export function ignoreStreamError(): void {}

export interface ByteCounter {
  sent(n: number): void;
  received(n: number): void;
}

export class TunnelConnection extends Duplex {
  /** The relay's view of the target, `address:port` (after resolving a name). */
  readonly peer: string | undefined;
  /** How long the relay's own dial took, ms (its `kvpn-dial-us`); the rest of a dial is the carrier's. */
  readonly relayDialMs: number | undefined;
  /** This connection's bytes toward the target and back (the inspection page reads them). */
  bytesSent = 0;
  bytesReceived = 0;
  readonly #stream: http2.ClientHttp2Stream;
  readonly #counter: ByteCounter;
  #paused = false;
  #pendingWrite: ((err?: Error | null) => void) | undefined;

  constructor(stream: http2.ClientHttp2Stream, counter: ByteCounter, peer?: string, relayDialMs?: number) {
    // Not autoDestroy: 'close' follows the stream's close, so counters agree with what the app sees.
    super({
      allowHalfOpen: true,
      autoDestroy: false,
      readableHighWaterMark: 256 * 1024,
      writableHighWaterMark: 256 * 1024,
    });
    this.#stream = stream;
    this.#counter = counter;
    this.peer = peer;
    this.relayDialMs = relayDialMs;
    stream.on('data', (chunk: Buffer) => this.#streamOnData(chunk));
    stream.on('end', () => {
      // Node ends the readable of a reset stream too: only a real END_STREAM is a FIN.
      if (!stream.aborted && stream.rstCode === NGHTTP2_NO_ERROR) this.push(null);
    });
    stream.on('drain', () => this.#streamOnDrain());
    stream.on('error', ignoreStreamError);
    stream.on('close', () => this.#streamOnClose());
  }

  #streamOnData(chunk: Buffer): void {
    this.#counter.received(chunk.length);
    this.bytesReceived += chunk.length;
    if (!this.push(chunk) && !this.#paused) {
      this.#paused = true;
      this.#stream.pause();
    }
  }

  #streamOnDrain(): void {
    const cb = this.#pendingWrite;
    this.#pendingWrite = undefined;
    cb?.();
  }

  #streamOnClose(): void {
    const cb = this.#pendingWrite;
    this.#pendingWrite = undefined;
    const code = this.#stream.rstCode;
    const clean = code === NGHTTP2_NO_ERROR && this.#stream.readableEnded;
    if (clean) {
      cb?.(new TunnelResetError('tunnel stream closed'));
      // Both directions finished; the reply may still sit unread in our buffer.
      // Like a socket, close once the reader has taken it and the end.
      if (this.readableEnded) this.destroy();
      else this.once('end', () => this.destroy());
      return;
    }
    const err =
      code === NGHTTP2_CONNECT_ERROR
        ? new TunnelResetError('connection reset by the target', code)
        : new TunnelResetError(`tunnel stream reset (HTTP/2 code ${code ?? 'none'})`, code);
    cb?.(err);
    this.destroy(err);
  }

  override _read(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#stream.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#counter.sent(chunk.length);
    this.bytesSent += chunk.length;
    if (this.#stream.write(chunk)) callback();
    else this.#pendingWrite = callback;
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.#stream.cork();
    let ok = true;
    for (const { chunk } of chunks) {
      this.#counter.sent(chunk.length);
      this.bytesSent += chunk.length;
      ok = this.#stream.write(chunk);
    }
    this.#stream.uncork();
    if (ok) callback();
    else this.#pendingWrite = callback;
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#stream.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const stream = this.#stream;
    if (!stream.closed && !stream.destroyed) {
      if (stream.writableFinished && stream.readableEnded) stream.close(NGHTTP2_NO_ERROR);
      else resetStream(stream);
    }
    callback(err);
  }
}
