// One UDP flow through the tunnel (transport udp/1), as the stack's
// DatagramFlow: datagrams are length-prefixed on a CONNECT stream
// (datagram-codec.ts). Sending never queues without bound: past
// UDP_SEND_QUEUE_BYTES the datagram is dropped (send() returns false), as a
// full socket buffer would.
import http2 from 'node:http2';
import { DatagramDecoder, encodeDatagram, MAX_DATAGRAM_BYTES } from '../relay/datagram-codec.js';
import type { DatagramFlow } from '../tun/stack/index.js';
import type { ByteCounter } from './tcp-connection.js';
import { TunnelResetError } from './tcp-connection.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL } = http2.constants;

export const UDP_SEND_QUEUE_BYTES = 512 * 1024;

export class TunnelDatagramFlow implements DatagramFlow {
  /** Datagrams dropped because the stream was full or closed. */
  dropped = 0;
  readonly #stream: http2.ClientHttp2Stream;
  readonly #counter: ByteCounter;
  readonly #decoder = new DatagramDecoder();
  #onDatagram: ((datagram: Uint8Array) => void) | undefined;
  #closeHandlers: ((err?: Error) => void)[] = [];
  #closed: { err?: Error } | undefined;

  constructor(stream: http2.ClientHttp2Stream, counter: ByteCounter) {
    this.#stream = stream;
    this.#counter = counter;
    stream.on('data', (chunk: Buffer) => {
      for (const datagram of this.#decoder.push(chunk)) {
        counter.received(datagram.length);
        this.#onDatagram?.(datagram);
      }
    });
    stream.on('end', () => {
      // The relay ended the flow (idle timeout): finish our side too.
      if (!stream.writableEnded) stream.end();
    });
    stream.on('error', () => {});
    stream.on('close', () => {
      const code = stream.rstCode;
      this.#finish(
        code === NGHTTP2_NO_ERROR || code === NGHTTP2_CANCEL
          ? undefined
          : new TunnelResetError(`UDP flow reset (HTTP/2 code ${code})`, code),
      );
    });
  }

  send(datagram: Uint8Array): boolean {
    if (this.#closed || datagram.length > MAX_DATAGRAM_BYTES || this.#stream.writableLength > UDP_SEND_QUEUE_BYTES) {
      this.dropped++;
      return false;
    }
    this.#counter.sent(datagram.length);
    this.#stream.write(encodeDatagram(datagram));
    return true;
  }

  onDatagram(handler: (datagram: Uint8Array) => void): void {
    this.#onDatagram = handler;
  }

  onClose(handler: (err?: Error) => void): void {
    if (this.#closed) handler(this.#closed.err);
    else this.#closeHandlers.push(handler);
  }

  close(): void {
    if (this.#closed) return;
    // END_STREAM: datagrams already written still go out; the relay answers with its own END_STREAM.
    if (!this.#stream.writableEnded) this.#stream.end();
    this.#finish(undefined);
  }

  #finish(err: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = { err };
    for (const h of this.#closeHandlers.splice(0)) h(err);
  }
}
