// Joins a TcpConnection to the dialer's Duplex.
//
//   app kernel ──segments──► TcpConnection ──onData──► stream.write()
//   app kernel ◄─segments─── TcpConnection ◄──send()── stream 'data'
//
// Backpressure: every write's callback reports stream.writableLength back
// as the connection's backlog, so the advertised window is exactly the room
// left toward the dialer; when the send buffer is full the stream is paused
// and resumed on onSendSpace. FIN ↔ end(), RST ↔ destroy().
import type { Duplex } from 'node:stream';
import { KvpnError } from '../../../errors.js';
import type { TcpConnection } from './connection.js';
import type { TcpApp, TcpCloseReason } from './host.js';

export interface BridgeHost {
  /** Polls the connection soon (coalesced per event-loop turn). */
  schedule(conn: TcpConnection): void;
}

export class StreamBridge implements TcpApp {
  readonly #conn: TcpConnection;
  readonly #stream: Duplex;
  readonly #host: BridgeHost;
  #readEnded = false;
  #writeEnded = false;
  #done = false;

  constructor(conn: TcpConnection, stream: Duplex, host: BridgeHost) {
    this.#conn = conn;
    this.#stream = stream;
    this.#host = host;
    conn.app = this;
    stream.on('data', this.#streamOnData);
    stream.on('end', this.#streamOnEnd);
    stream.on('error', this.#streamOnError);
    stream.on('close', this.#streamOnClose);
  }

  // ---- stream → connection ----

  readonly #streamOnData = (chunk: Buffer): void => {
    if (!this.#conn.send(chunk)) this.#stream.pause();
    this.#host.schedule(this.#conn);
  };

  readonly #streamOnEnd = (): void => {
    this.#readEnded = true;
    this.#conn.close();
    this.#host.schedule(this.#conn);
  };

  readonly #streamOnError = (): void => {
    // The dialer's side failed: reset the application's connection.
    if (this.#done) return;
    this.#conn.abort();
    this.#host.schedule(this.#conn);
  };

  readonly #streamOnClose = (): void => {
    if (this.#done) return;
    if (!this.#readEnded || !this.#writeEnded) {
      // Closed under us without a full orderly shutdown: a reset.
      this.#conn.abort();
      this.#host.schedule(this.#conn);
    }
  };

  readonly #onWritten = (err?: Error | null): void => {
    if (err || this.#done) return;
    this.#conn.setAppBacklog(this.#stream.writableLength);
    if (this.#conn.windowUpdateDue) this.#host.schedule(this.#conn);
  };

  // ---- connection → stream (TcpApp) ----

  onData(data: Uint8Array): void {
    this.#stream.write(data, this.#onWritten);
  }

  onPeerFin(): void {
    this.#writeEnded = true;
    this.#stream.end();
  }

  onSendSpace(): void {
    this.#stream.resume();
  }

  onClosed(reason: TcpCloseReason): void {
    if (this.#done) return;
    this.#done = true;
    const s = this.#stream;
    s.off('data', this.#streamOnData);
    s.off('end', this.#streamOnEnd);
    s.off('close', this.#streamOnClose);
    // Keep an error listener: a late error must not become an uncaught exception.
    if (reason === 'closed') {
      // Orderly: both directions already ended; let buffered writes finish.
      if (!s.writableEnded) s.end();
      s.resume();
      return;
    }
    s.destroy(new TcpResetError(reason));
  }
}

/** Why the stack reset the dialer's stream (the application's side went away). */
export class TcpResetError extends KvpnError {
  readonly reason: TcpCloseReason;
  constructor(reason: TcpCloseReason) {
    super(
      reason === 'timeout' ? 'KVPN_ERR_TCP_TIMEOUT' : 'KVPN_ERR_TCP_RESET',
      'user',
      reason === 'timeout'
        ? 'the application stopped acknowledging data; the connection timed out'
        : reason === 'reset'
          ? 'the application reset the connection'
          : 'the stack aborted the connection',
    );
    this.reason = reason;
  }
}
