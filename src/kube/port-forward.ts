// Port-forward to one port of a pod, as a Node Duplex (docs/design.md §6).
//
//   write(bytes) ─► [0x00 | bytes] WebSocket message ─► API server ─► kubelet ─► pod 127.0.0.1:PORT
//   push(bytes)  ◄─ [0x00 | bytes] ◄──────────────────────────────────────────┘
//                   [0x01 | text]  error channel: the kubelet's message; ends the stream with an error
//
// Protocol v4.channel.k8s.io: byte 0 of each binary message is the channel
// (data 0, error 1 for the single port we ask for); the first two bytes the
// server sends on each channel are the port, little-endian, and carry no
// payload. The protocol has no half-close: ending our side closes the
// WebSocket (1000) once queued data is flushed.
//
// Backpressure: when the reader stops taking data, the socket is paused
// (the kernel window then stops the API server); writes complete only while
// the WebSocket's bufferedAmount stays under the high-water mark.
// Keepalive: a WebSocket ping every interval; no pong by the next one ends
// the stream with an error. This is the only module that imports `ws`.

import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { KvpnError } from '../errors.js';
import type { KubeClient } from './client.js';
import { KubeApiError, KubeUnreachableError, readStatus } from './errors.js';

export const PORT_FORWARD_PROTOCOL = 'v4.channel.k8s.io';
export const PF_PING_INTERVAL_MS = 20_000;
export const PF_CONNECT_TIMEOUT_MS = 15_000;
/** Writes complete immediately while less than this is queued toward the socket. */
export const PF_WRITE_HIGH_WATER_BYTES = 1024 * 1024;
/** One WebSocket message carries at most this much payload (writev batches are split). */
export const PF_MAX_MESSAGE_BYTES = 1024 * 1024;
/** Readable side buffer before the socket is paused. */
export const PF_READ_HIGH_WATER_BYTES = 1024 * 1024;

const DATA_CHANNEL = 0;
const ERROR_CHANNEL = 1;
const MAX_ERROR_TEXT_BYTES = 8 * 1024;

export interface PortForwardOptions {
  namespace: string;
  pod: string;
  port: number;
  signal?: AbortSignal;
  connectTimeoutMs?: number;
  pingIntervalMs?: number;
}

/** The port-forward failed after it was opened: the kubelet's error text, a lost connection, a keepalive timeout. */
export class PortForwardError extends KvpnError {
  /** The text the kubelet sent on the error channel, if that is what ended the stream. */
  readonly kubeletMessage: string | undefined;
  constructor(message: string, options: { kubeletMessage?: string; cause?: unknown } = {}) {
    super('KVPN_ERR_PORT_FORWARD', 'cluster', message, { cause: options.cause });
    this.kubeletMessage = options.kubeletMessage;
  }
}

export interface PortForwardStats {
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
  /** Messages on channels other than data/error, or malformed; dropped. */
  dropped: number;
  /** Times the socket was paused because the reader was full. */
  pauses: number;
}

/** Opens a port-forward WebSocket to `pod:port`; resolves once the upgrade succeeded. */
export async function openPortForward(client: KubeClient, options: PortForwardOptions): Promise<PortForwardStream> {
  const conn = await client.connectionOptions();
  const path = `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/pods/${encodeURIComponent(options.pod)}/portforward`;
  const url = client.url(path, { ports: options.port });
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  const ws = new WebSocket(url, [PORT_FORWARD_PROTOCOL], {
    ...(conn as WebSocket.ClientOptions),
    headers: { ...(conn.headers as Record<string, string>) },
    perMessageDeflate: false,
    handshakeTimeout: options.connectTimeoutMs ?? PF_CONNECT_TIMEOUT_MS,
    maxPayload: 64 * 1024 * 1024,
  });
  ws.binaryType = 'nodebuffer';
  const stream = new PortForwardStream(ws, options.port, options.pingIntervalMs ?? PF_PING_INTERVAL_MS);
  // Until the caller has the stream, its errors are reported through the promise; and the stream
  // keeps this listener: the kubelet's error can arrive in the same read as the upgrade, and its
  // 'error' (a nextTick) would fire before the caller's await resumes and attaches its own.
  const swallow = (): void => {};
  stream.on('error', swallow);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => settle(options.signal?.reason ?? new Error('aborted'));
    let settled = false;
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      ws.off('open', wsOnOpen);
      ws.off('error', wsOnError);
      ws.off('close', wsOnClose);
      ws.off('unexpected-response', wsOnUnexpectedResponse);
      if (err) {
        ws.terminate();
        stream.destroy(err);
        reject(err);
      } else {
        resolve(stream);
      }
    };
    const wsOnOpen = (): void => {
      if (ws.protocol !== PORT_FORWARD_PROTOCOL) {
        settle(new PortForwardError(`the API server chose subprotocol "${ws.protocol}", not ${PORT_FORWARD_PROTOCOL}`));
      } else settle();
    };
    const wsOnError = (err: Error): void => settle(new KubeUnreachableError(client.server.origin, err));
    const wsOnClose = (): void => settle(new PortForwardError('port-forward closed during the handshake'));
    const wsOnUnexpectedResponse = (_req: unknown, res: IncomingMessage): void => {
      readLimited(res, 64 * 1024).then(
        (body) => settle(new KubeApiError('PORTFORWARD', path, res.statusCode ?? 0, readStatus(body))),
        (err: Error) => settle(new KubeUnreachableError(client.server.origin, err)),
      );
    };
    ws.on('open', wsOnOpen);
    ws.on('error', wsOnError);
    ws.on('close', wsOnClose);
    ws.on('unexpected-response', wsOnUnexpectedResponse);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class PortForwardStream extends Duplex {
  readonly port: number;
  readonly stats: PortForwardStats = { bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0, dropped: 0, pauses: 0 };
  readonly #ws: WebSocket;
  /** Bytes of the port header still to strip, per channel. */
  readonly #headerLeft = [2, 2];
  #errorText = '';
  #paused = false;
  #pendingWrite: ((err?: Error | null) => void) | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #awaitingPong = false;
  #closedByUs = false;

  constructor(ws: WebSocket, port: number, pingIntervalMs: number) {
    super({
      readableHighWaterMark: PF_READ_HIGH_WATER_BYTES,
      writableHighWaterMark: PF_WRITE_HIGH_WATER_BYTES,
      allowHalfOpen: false,
    });
    this.#ws = ws;
    this.port = port;
    ws.on('message', (data, isBinary) => this.#wsOnMessage(data as Buffer, isBinary));
    ws.on('close', (code, reason) => this.#wsOnClose(code, reason.toString('utf8')));
    ws.on('error', (err) => this.#wsOnError(err));
    ws.on('pong', () => {
      this.#awaitingPong = false;
    });
    ws.once('open', () => {
      if (pingIntervalMs > 0) {
        this.#pingTimer = setInterval(() => this.#keepalive(), pingIntervalMs);
        this.#pingTimer.unref();
      }
    });
  }

  /** Bytes queued toward the API server and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  #keepalive(): void {
    if (this.#awaitingPong) {
      this.destroy(new PortForwardError('port-forward keepalive: no pong from the API server'));
      return;
    }
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#awaitingPong = true;
    this.#ws.ping();
  }

  #wsOnMessage(data: Buffer, isBinary: boolean): void {
    // After destroy() the close handshake is still under way: what arrives meanwhile is dropped.
    if (this.destroyed) return;
    if (!isBinary || data.length === 0) {
      this.stats.dropped++;
      return;
    }
    this.stats.messagesIn++;
    const channel = data[0] ?? -1;
    let payload = data.subarray(1);
    const left = this.#headerLeft[channel];
    if (left !== undefined && left > 0) {
      const strip = Math.min(left, payload.length);
      this.#headerLeft[channel] = left - strip;
      payload = payload.subarray(strip);
    }
    if (channel === DATA_CHANNEL) {
      if (payload.length === 0) return;
      this.stats.bytesIn += payload.length;
      if (!this.push(payload) && !this.#paused) {
        this.#paused = true;
        this.stats.pauses++;
        this.#ws.pause();
      }
    } else if (channel === ERROR_CHANNEL) {
      if (payload.length === 0) return;
      if (this.#errorText.length < MAX_ERROR_TEXT_BYTES) this.#errorText += payload.toString('utf8');
      // The kubelet sends its error in one message, then closes.
      const text = this.#errorText.trim();
      this.destroy(new PortForwardError(`port-forward to port ${this.port}: ${text}`, { kubeletMessage: text }));
    } else {
      this.stats.dropped++;
    }
  }

  #wsOnClose(code: number, reason: string): void {
    clearInterval(this.#pingTimer);
    this.#completePendingWrite(new PortForwardError('port-forward closed'));
    if (this.destroyed) return;
    if (code === 1000 || code === 1005 || this.#closedByUs) {
      this.push(null);
      // No half-close in this protocol: our side is finished too.
      if (!this.writableEnded) this.end();
      return;
    }
    this.destroy(
      new PortForwardError(`port-forward connection lost (WebSocket close ${code}${reason ? `: ${reason}` : ''})`),
    );
  }

  #wsOnError(err: Error): void {
    this.destroy(new PortForwardError(`port-forward connection failed: ${err.message}`, { cause: err }));
  }

  #completePendingWrite(err?: Error): void {
    const cb = this.#pendingWrite;
    this.#pendingWrite = undefined;
    cb?.(err);
  }

  override _read(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#ws.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this._writev([{ chunk }], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      callback(new PortForwardError('port-forward is not open'));
      return;
    }
    let total = 0;
    for (const c of chunks) total += c.chunk.length;
    let index = 0;
    let offset = 0;
    while (total > 0) {
      const size = Math.min(total, PF_MAX_MESSAGE_BYTES);
      // Our own buffer, passed as a plain Uint8Array so ws masks it in place (one copy in all).
      const frame = Buffer.allocUnsafe(size + 1);
      frame[0] = DATA_CHANNEL;
      let filled = 1;
      while (filled < frame.length) {
        const chunk = chunks[index]?.chunk as Buffer;
        const n = chunk.copy(frame, filled, offset, Math.min(chunk.length, offset + frame.length - filled));
        filled += n;
        offset += n;
        if (offset === chunk.length) {
          index++;
          offset = 0;
        }
      }
      total -= size;
      this.stats.bytesOut += size;
      this.stats.messagesOut++;
      this.#ws.send(new Uint8Array(frame.buffer, frame.byteOffset, frame.length), { binary: true }, (err) => {
        if (err) this.#completePendingWrite(err);
        else if (this.#ws.bufferedAmount < PF_WRITE_HIGH_WATER_BYTES) this.#completePendingWrite();
      });
    }
    if (this.#ws.bufferedAmount < PF_WRITE_HIGH_WATER_BYTES) callback();
    else this.#pendingWrite = callback;
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#closedByUs = true;
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    clearInterval(this.#pingTimer);
    this.#closedByUs = true;
    this.#completePendingWrite(err ?? new PortForwardError('port-forward destroyed'));
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      if (err) this.#ws.terminate();
      else this.#ws.close(1000);
    }
    // A reader that stopped had paused the socket: read on (dropping the data)
    // so the server's close frame arrives, or the target stays connected and
    // sending until ws gives up on the handshake (30 s).
    // (isPaused: only once there is a socket; resume() throws before.)
    if (this.#ws.readyState === WebSocket.CLOSING && this.#ws.isPaused) this.#ws.resume();
    callback(err);
  }
}

async function readLimited(res: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    if (size < limit) chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks).subarray(0, limit);
}
