// One stream of a mux carrier, as the Duplex both ends already use for an
// HTTP/2 stream: the subset of Http2Stream that the tunnel client and the
// relay's handlers touch (respond, additionalHeaders, 'response' and
// 'headers' events, close(code), rstCode, aborted, closed), so the same
// code serves either carrier. TCP's meanings as on HTTP/2 (RFC 9113 §8.5):
//
//   write()          ─► DATA within the peer's credit (stream and carrier)
//   end()            ─► DATA with FIN (half-close); FIN received ─► push(null)
//   close(code)      ─► RESET(code); RESET received ─► rstCode, aborted, 'close'
//   FIN both ways and the reader at 'end' ─► closed cleanly (rstCode 0)
//
// Credit is returned to the sender as the reader takes the bytes: a reader
// that stops holds at most its high-water mark plus one window.
import { Duplex } from 'node:stream';
import {
  encodeFrame,
  encodeJsonFrame,
  encodeU32Frame,
  FLAG_FIN,
  FrameType,
  MAX_DATA_FRAME_BYTES,
  MuxError,
} from './mux-frame.js';

/** Stream credit goes back in batches of this much, or a quarter of the window if that is less. */
const STREAM_CREDIT_BATCH = 256 * 1024;
const BUFFER_BYTES = 256 * 1024;

export type MuxHeaders = Record<string, string | string[] | number | undefined>;

/** What a stream needs of its carrier (mux-session.ts). */
export interface MuxStreamHost {
  readonly alive: boolean;
  /** This end's receive window per stream (what the peer may send before credit comes back). */
  readonly streamWindow: number;
  /** The transport said it is full: DATA waits for its 'drain'. */
  readonly congested: boolean;
  /** Carrier-wide credit left for DATA toward the peer. */
  connectionCredit: number;
  /** Queues a frame (header and payload pieces) toward the transport. */
  send(parts: Buffer[]): void;
  /** The stream has bytes but no credit or room: flush() it when there is. */
  waitForRoom(stream: MuxStream): void;
  /** `n` bytes of this carrier were taken by a reader (or dropped): carrier credit for the peer. */
  consumed(n: number): void;
  /** The stream is closed: forget its id. */
  forget(stream: MuxStream): void;
}

export class StreamClosedError extends Error {}

export class MuxStream extends Duplex {
  readonly id: number;
  /** The reset code (0 while open and after a clean close), as Http2Stream's. */
  rstCode = 0;
  /** Ended by a reset or the loss of its carrier. */
  aborted = false;
  headersSent = false;
  readonly #host: MuxStreamHost;
  #credit: number;
  readonly #queue: Buffer[] = [];
  #queued = 0;
  #writeCallback: ((err?: Error | null) => void) | undefined;
  #finalCallback: ((err?: Error | null) => void) | undefined;
  #finWanted = false;
  #localFin = false;
  #remoteFin = false;
  #readEnded = false;
  #closed = false;
  /** Taken by the reader, not yet credited back. */
  #unacked = 0;
  /** Received while the reader was full: credited when it reads again. */
  #held = 0;

  constructor(host: MuxStreamHost, id: number, sendCredit: number) {
    super({
      allowHalfOpen: true,
      autoDestroy: false,
      readableHighWaterMark: BUFFER_BYTES,
      writableHighWaterMark: BUFFER_BYTES,
    });
    this.#host = host;
    this.id = id;
    this.#credit = sendCredit;
    this.once('end', () => {
      this.#readEnded = true;
      this.#maybeClose();
    });
  }

  // ---- toward the peer ------------------------------------------------------

  /** Server: the final answer (END with it when `endStream`). */
  respond(headers: MuxHeaders, options: { endStream?: boolean } = {}): void {
    if (this.#closed || this.headersSent) return;
    this.headersSent = true;
    const fin = options.endStream === true;
    this.#host.send([encodeJsonFrame(FrameType.Reply, fin ? FLAG_FIN : 0, this.id, headers)]);
    if (fin) {
      this.#localFin = true;
      this.end();
    }
  }

  /** Server: an informational (1xx) answer; the final one follows. */
  additionalHeaders(headers: MuxHeaders): void {
    if (this.#closed) return;
    this.#host.send([encodeJsonFrame(FrameType.Reply, 0, this.id, headers)]);
  }

  /** Resets the stream (RESET with `code`), unless it is closed already. */
  close(code: number = MuxError.NoError, callback?: () => void): void {
    if (callback) this.once('close', callback);
    if (this.#closed) return;
    if (this.#host.alive) this.#host.send([encodeU32Frame(FrameType.Reset, 0, this.id, code)]);
    this.#terminate(code, code !== MuxError.NoError);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this._writev([{ chunk }], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    if (this.#closed || this.#localFin) {
      callback(new StreamClosedError(`mux stream ${this.id} is closed`));
      return;
    }
    for (const { chunk } of chunks) {
      if (chunk.length === 0) continue;
      this.#queue.push(chunk);
      this.#queued += chunk.length;
    }
    this.#writeCallback = callback;
    this.flush();
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.#localFin || this.#closed) {
      callback();
      this.#maybeClose();
      return;
    }
    this.#finWanted = true;
    this.#finalCallback = callback;
    this.flush();
  }

  /** Sends what credit and room allow; the host calls it again when there is more. */
  flush(): void {
    if (this.#closed) return;
    const host = this.#host;
    while (this.#queued > 0) {
      const allowed = Math.min(this.#credit, host.connectionCredit, MAX_DATA_FRAME_BYTES);
      if (host.congested || allowed <= 0) {
        host.waitForRoom(this);
        return;
      }
      const n = Math.min(allowed, this.#queued);
      const parts = this.#take(n);
      const fin = this.#finWanted && this.#queued === 0;
      const header = Buffer.allocUnsafe(10);
      header.writeUInt32BE(n, 0);
      header[4] = FrameType.Data;
      header[5] = fin ? FLAG_FIN : 0;
      header.writeUInt32BE(this.id, 6);
      parts.unshift(header);
      this.#credit -= n;
      host.connectionCredit -= n;
      host.send(parts);
      if (fin) this.#localFin = true;
    }
    if (this.#finWanted && !this.#localFin) {
      this.#localFin = true;
      host.send([encodeFrame(FrameType.Data, FLAG_FIN, this.id)]);
    }
    const write = this.#writeCallback;
    this.#writeCallback = undefined;
    write?.();
    if (this.#localFin) {
      const final = this.#finalCallback;
      this.#finalCallback = undefined;
      final?.();
      this.#maybeClose();
    }
  }

  /** The first `n` queued bytes, as views (no copy). */
  #take(n: number): Buffer[] {
    const out: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const head = this.#queue[0] as Buffer;
      if (head.length <= left) {
        out.push(head);
        this.#queue.shift();
        left -= head.length;
      } else {
        out.push(head.subarray(0, left));
        this.#queue[0] = head.subarray(left);
        left = 0;
      }
    }
    this.#queued -= n;
    return out;
  }

  // ---- from the peer (mux-session.ts) ---------------------------------------

  /** More credit toward the peer. */
  onWindow(increment: number): void {
    this.#credit += increment;
    if (this.#queued > 0 || this.#finWanted) this.flush();
  }

  onData(piece: Buffer, fin: boolean): void {
    if (this.#closed || this.#remoteFin) {
      this.#host.consumed(piece.length);
      return;
    }
    if (piece.length > 0) {
      if (this.push(piece)) this.#creditBack(piece.length);
      else this.#held += piece.length;
    }
    if (fin) this.#onRemoteFin();
  }

  onReply(headers: MuxHeaders, fin: boolean): void {
    if (this.#closed) return;
    const status = Number(headers[':status']);
    if (status >= 100 && status < 200) this.emit('headers', headers);
    else this.emit('response', headers);
    if (fin) this.#onRemoteFin();
  }

  onReset(code: number): void {
    if (this.#closed) return;
    this.#terminate(code, code !== MuxError.NoError || !this.#readEnded);
  }

  /** The carrier is gone: every open stream ends as reset. */
  onCarrierLost(): void {
    if (this.#closed) return;
    this.#terminate(MuxError.Internal, true);
  }

  override _read(): void {
    if (this.#held === 0) return;
    const n = this.#held;
    this.#held = 0;
    this.#creditBack(n);
  }

  #creditBack(n: number): void {
    this.#host.consumed(n);
    this.#unacked += n;
    if (this.#unacked >= Math.min(STREAM_CREDIT_BATCH, this.#host.streamWindow / 4) && !this.#remoteFin) {
      this.#host.send([encodeU32Frame(FrameType.Window, 0, this.id, this.#unacked)]);
      this.#unacked = 0;
    }
  }

  #onRemoteFin(): void {
    this.#remoteFin = true;
    this.push(null);
    // Nobody reads a request that has no body (GET): 'end' must come all the same.
    if (this.readableFlowing === null) this.resume();
  }

  #maybeClose(): void {
    if (!this.#closed && this.#localFin && this.#readEnded) this.#terminate(MuxError.NoError, false);
  }

  #terminate(code: number, aborted: boolean): void {
    this.#closed = true;
    this.rstCode = code;
    if (aborted) this.aborted = true;
    this.#queue.length = 0;
    this.#queued = 0;
    const write = this.#writeCallback;
    const final = this.#finalCallback;
    this.#writeCallback = undefined;
    this.#finalCallback = undefined;
    // Only for a writer still waiting: an Error's stack costs ~20 µs, on every close.
    if (write || final) {
      const lost = new StreamClosedError(`mux stream ${this.id} closed`);
      write?.(lost);
      final?.(lost);
    }
    this.#host.forget(this);
    this.destroy();
  }
}
