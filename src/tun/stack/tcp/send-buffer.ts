// Bytes the dialer handed us that the peer has not acknowledged yet, kept
// as the chunks the stream delivered (no copy). Offsets are relative to
// SND.UNA; `copyOut` copies a range straight into an outgoing packet.
export class SendBuffer {
  #chunks: Uint8Array[] = [];
  #head = 0;
  /** Bytes of chunks[head] already consumed. */
  #headOffset = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** Drops `n` bytes from the front (they were acknowledged). */
  consume(n: number): void {
    let left = Math.min(n, this.#length);
    this.#length -= left;
    while (left > 0) {
      const chunk = this.#chunks[this.#head] as Uint8Array;
      const avail = chunk.length - this.#headOffset;
      if (left < avail) {
        this.#headOffset += left;
        break;
      }
      left -= avail;
      this.#chunks[this.#head] = EMPTY;
      this.#head++;
      this.#headOffset = 0;
    }
    if (this.#head === this.#chunks.length) {
      this.#chunks = [];
      this.#head = 0;
    } else if (this.#head >= 64 && this.#head * 2 >= this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Copies bytes [offset, offset+len) into dst at dstOffset; returns bytes copied. */
  copyOut(offset: number, len: number, dst: Uint8Array, dstOffset: number): number {
    let skip = offset + this.#headOffset;
    let copied = 0;
    for (let i = this.#head; i < this.#chunks.length && copied < len; i++) {
      const chunk = this.#chunks[i] as Uint8Array;
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      const n = Math.min(chunk.length - skip, len - copied);
      dst.set(n === chunk.length ? chunk : chunk.subarray(skip, skip + n), dstOffset + copied);
      copied += n;
      skip = 0;
    }
    return copied;
  }

  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#headOffset = 0;
    this.#length = 0;
  }
}

const EMPTY = new Uint8Array(0);
