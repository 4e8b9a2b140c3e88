// The mux carrier's wire format (tunnel protocol 2, docs/protocol.md "Mux
// carrier"): after an 8-byte preface from the client, both ends send frames
//
//   length u32 | type u8 | flags u8 | stream u32 | payload (length bytes)
//
// over the port-forward's byte stream. Pure: bytes in, frames out. DATA
// payloads are handed on as views of the buffers they arrived in (a frame
// that spans reads comes out in pieces, never copied); control payloads are
// small and joined when split.

export const MUX_PREFACE = Buffer.from('KVPN/MUX', 'latin1');
export const MUX_PROTOCOL_VERSION = 2;
export const FRAME_HEADER_BYTES = 10;

export const FrameType = {
  /** Bytes of a stream; FIN: the sender's last (a half-close). */
  Data: 0,
  /** Client → relay: a new stream, its request headers as JSON; FIN: no body follows. */
  Open: 1,
  /** Relay → client: response headers as JSON (a 1xx is informational, more follow); FIN as for Data. */
  Reply: 2,
  /** The stream ends abnormally: u32 code (HTTP/2's error codes). */
  Reset: 3,
  /** u32 credit for the stream (0: for the whole carrier). */
  Window: 4,
  /** 8 opaque bytes; ACK flag on the answer. */
  Ping: 5,
  /** u32 code, then UTF-8 text: no new streams; the sender closes once its streams are done. */
  GoAway: 6,
  /** Stream 0, JSON: the client's token and protocol, the relay's answer (first frame each way). */
  Hello: 7,
} as const;
export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType];

export const FLAG_FIN = 1;
export const FLAG_ACK = 1;

/** DATA frames carry at most this much (larger writes are split). */
export const MAX_DATA_FRAME_BYTES = 256 * 1024;
/** Headers, hello, goaway text: never larger. */
export const MAX_CONTROL_FRAME_BYTES = 16 * 1024;

/** HTTP/2's error codes (RFC 9113 §7), kept so both carriers report resets alike. */
export const MuxError = {
  NoError: 0,
  Protocol: 1,
  Internal: 2,
  FlowControl: 3,
  RefusedStream: 7,
  Cancel: 8,
  ConnectError: 10,
} as const;

export function writeFrameHeader(
  target: Buffer,
  offset: number,
  type: number,
  flags: number,
  stream: number,
  length: number,
): void {
  target.writeUInt32BE(length, offset);
  target[offset + 4] = type;
  target[offset + 5] = flags;
  target.writeUInt32BE(stream, offset + 6);
}

/** A whole frame with its payload in one buffer (control frames, small data). */
export function encodeFrame(type: number, flags: number, stream: number, payload?: Uint8Array): Buffer {
  const length = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(out, 0, type, flags, stream, length);
  if (payload) out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export function encodeU32Frame(type: number, flags: number, stream: number, value: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(out, 0, type, flags, stream, 4);
  out.writeUInt32BE(value, FRAME_HEADER_BYTES);
  return out;
}

export function encodeJsonFrame(type: number, flags: number, stream: number, value: unknown): Buffer {
  return encodeFrame(type, flags, stream, Buffer.from(JSON.stringify(value), 'utf8'));
}

export interface FrameHandlers {
  /** A piece of a DATA frame's payload; `last` on the frame's final piece (with `fin` from its flags). */
  data(stream: number, piece: Buffer, last: boolean, fin: boolean): void;
  /** A whole non-DATA frame. */
  control(type: number, flags: number, stream: number, payload: Buffer): void;
  /** The bytes are not this protocol: the carrier must end. */
  malformed(reason: string): void;
}

const EMPTY = Buffer.alloc(0);

/** Streaming frame parser: push() any split of the byte stream. */
export class FrameDecoder {
  readonly #handlers: FrameHandlers;
  readonly #header = Buffer.alloc(FRAME_HEADER_BYTES);
  #headerFill = 0;
  /** Payload bytes of the current frame still to come; -1 between frames. */
  #left = -1;
  #type = 0;
  #flags = 0;
  #stream = 0;
  #control: Buffer[] = [];
  #failed = false;

  constructor(handlers: FrameHandlers) {
    this.#handlers = handlers;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.#failed) {
      if (this.#left < 0) {
        const take = Math.min(FRAME_HEADER_BYTES - this.#headerFill, chunk.length - at);
        chunk.copy(this.#header, this.#headerFill, at, at + take);
        this.#headerFill += take;
        at += take;
        if (this.#headerFill < FRAME_HEADER_BYTES) return;
        this.#headerFill = 0;
        if (!this.#startFrame()) return;
        if (this.#left === 0) this.#endEmptyFrame();
        continue;
      }
      const take = Math.min(this.#left, chunk.length - at);
      const piece = chunk.subarray(at, at + take);
      at += take;
      this.#left -= take;
      const last = this.#left === 0;
      if (this.#type === FrameType.Data) {
        this.#handlers.data(this.#stream, piece, last, last && (this.#flags & FLAG_FIN) !== 0);
      } else {
        this.#control.push(piece);
        if (last) {
          const payload = this.#control.length === 1 ? (this.#control[0] as Buffer) : Buffer.concat(this.#control);
          this.#control = [];
          this.#handlers.control(this.#type, this.#flags, this.#stream, payload);
        }
      }
      if (last) this.#left = -1;
    }
  }

  #startFrame(): boolean {
    const length = this.#header.readUInt32BE(0);
    const type = this.#header[4] as number;
    if (type > FrameType.Hello) return this.#fail(`unknown frame type ${type}`);
    const max = type === FrameType.Data ? MAX_DATA_FRAME_BYTES : MAX_CONTROL_FRAME_BYTES;
    if (length > max) return this.#fail(`a frame of type ${type} with ${length} bytes (at most ${max})`);
    this.#type = type;
    this.#flags = this.#header[5] as number;
    this.#stream = this.#header.readUInt32BE(6);
    this.#left = length;
    return true;
  }

  #endEmptyFrame(): void {
    this.#left = -1;
    if (this.#type === FrameType.Data) this.#handlers.data(this.#stream, EMPTY, true, (this.#flags & FLAG_FIN) !== 0);
    else this.#handlers.control(this.#type, this.#flags, this.#stream, EMPTY);
  }

  #fail(reason: string): false {
    this.#failed = true;
    this.#handlers.malformed(reason);
    return false;
  }
}
