// UDP datagrams on a CONNECT stream (transport `udp/1`, docs/protocol.md):
// each datagram is a 2-byte big-endian length followed by that many bytes.
// A zero length is a valid (empty) datagram. The decoder is a pure state
// machine fed arbitrary chunk boundaries; it never holds more than one
// partial datagram.

export const DATAGRAM_HEADER_BYTES = 2;
export const MAX_DATAGRAM_BYTES = 0xffff;

export function encodeDatagram(datagram: Uint8Array): Buffer {
  if (datagram.length > MAX_DATAGRAM_BYTES) throw new RangeError(`datagram of ${datagram.length} bytes exceeds 65535`);
  const out = Buffer.allocUnsafe(DATAGRAM_HEADER_BYTES + datagram.length);
  out.writeUInt16BE(datagram.length, 0);
  out.set(datagram, DATAGRAM_HEADER_BYTES);
  return out;
}

export class DatagramDecoder {
  /** Header bytes of an unfinished datagram (0..2), then its body as it fills. */
  readonly #header = Buffer.alloc(DATAGRAM_HEADER_BYTES);
  #headerFilled = 0;
  #body: Buffer | undefined;
  #bodyFilled = 0;

  /** Returns every datagram completed by `chunk`, in order. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#headerFilled === 0 && this.#body === undefined) {
        // Fast path: whole datagrams straight out of the chunk, no copy.
        const left = chunk.length - offset;
        if (left >= DATAGRAM_HEADER_BYTES) {
          const size = chunk.readUInt16BE(offset);
          if (left >= DATAGRAM_HEADER_BYTES + size) {
            out.push(chunk.subarray(offset + DATAGRAM_HEADER_BYTES, offset + DATAGRAM_HEADER_BYTES + size));
            offset += DATAGRAM_HEADER_BYTES + size;
            continue;
          }
        }
      }
      if (this.#body === undefined) {
        const n = Math.min(DATAGRAM_HEADER_BYTES - this.#headerFilled, chunk.length - offset);
        chunk.copy(this.#header, this.#headerFilled, offset, offset + n);
        this.#headerFilled += n;
        offset += n;
        if (this.#headerFilled < DATAGRAM_HEADER_BYTES) break;
        this.#body = Buffer.allocUnsafe(this.#header.readUInt16BE(0));
        this.#bodyFilled = 0;
      }
      const n = Math.min(this.#body.length - this.#bodyFilled, chunk.length - offset);
      chunk.copy(this.#body, this.#bodyFilled, offset, offset + n);
      this.#bodyFilled += n;
      offset += n;
      if (this.#bodyFilled === this.#body.length) {
        out.push(this.#body);
        this.#body = undefined;
        this.#headerFilled = 0;
        this.#bodyFilled = 0;
      }
    }
    return out;
  }

  /** Bytes of an unfinished datagram held back (header included). */
  get pendingBytes(): number {
    return this.#headerFilled + this.#bodyFilled;
  }
}
