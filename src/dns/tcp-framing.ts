// DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766): each message is
// preceded by its length as two bytes, big-endian. The decoder holds at
// most one partial message (≤ 64 KiB + one chunk).

export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(message.length + 2);
  out.writeUInt16BE(message.length, 0);
  out.set(message, 2);
  return out;
}

export class FrameDecoder {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
  }

  /** The next complete message, or undefined until more bytes arrive. */
  next(): Buffer | undefined {
    const p = this.#pending;
    if (p.length < 2) return undefined;
    const len = p.readUInt16BE(0);
    if (p.length < len + 2) return undefined;
    const message = p.subarray(2, len + 2);
    this.#pending = p.subarray(len + 2);
    return message;
  }

  /** Bytes held that do not yet form a message. */
  get buffered(): number {
    return this.#pending.length;
  }
}
