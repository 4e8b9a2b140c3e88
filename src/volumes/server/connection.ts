// One client connection, the socket edge:
//
//   PREAMBLE   `KVPN-FILES 1 <token>\n` within PREAMBLE_TIMEOUT_MS ─► `OK\n`, else `ERR <reason>\n` ─► REFUSED
//   AWAIT_INIT first packet must be INIT ─► VERSION 3 + extensions
//   OPEN       packets ─► SftpSession (concurrent) ─► replies in completion order
//   CLOSED     handles closed
//
// Backpressure: the socket is paused while MAX_IN_FLIGHT requests are being
// served or while the socket's write buffer is full; the framer then holds at
// most one chunk plus one packet.
import type { Socket } from 'node:net';
import { encodeVersion, PacketFramer, parseRequest } from './codec.js';
import type { FilesLog } from './log.js';
import { checkPreamble, PREAMBLE_MAX_BYTES, scanPreamble } from './preamble.js';
import { EXTENSIONS } from './protocol.js';
import { SftpSession } from './session.js';

export const PREAMBLE_TIMEOUT_MS = 10_000;
/** Requests served at once per connection (sshfs keeps up to ~32 READs of one file in flight). */
export const MAX_IN_FLIGHT = 64;

type State = 'PREAMBLE' | 'REFUSED' | 'AWAIT_INIT' | 'OPEN' | 'CLOSED';

export interface ConnectionEvents {
  /** The token matched: the connection now counts as open. */
  onAuthenticated(): void;
  /** The socket is gone (authenticated tells whether onAuthenticated was called). */
  onClosed(summary: ConnectionSummary): void;
}

export interface ConnectionSummary {
  authenticated: boolean;
  /** SFTP requests served. */
  requests: number;
  /** Handles the client left open (closed for it). */
  handles: number;
}

export interface ConnectionOptions {
  tokenDigest: Buffer;
  root: string;
  log: FilesLog;
  id: number;
  preambleTimeoutMs?: number;
}

export class FilesConnection {
  readonly #socket: Socket;
  readonly #options: ConnectionOptions;
  readonly #events: ConnectionEvents;
  readonly #session: SftpSession;
  readonly #framer = new PacketFramer();
  #state: State = 'PREAMBLE';
  #preamble: Buffer = Buffer.alloc(0);
  #deadline: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #writeBlocked = false;
  #authenticated = false;
  #requests = 0;

  constructor(socket: Socket, options: ConnectionOptions, events: ConnectionEvents) {
    this.#socket = socket;
    this.#options = options;
    this.#events = events;
    this.#session = new SftpSession(options.root);
    this.#deadline = setTimeout(() => this.#deadlineOnFire(), options.preambleTimeoutMs ?? PREAMBLE_TIMEOUT_MS);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#socketOnData(chunk));
    socket.on('drain', () => this.#socketOnDrain());
    socket.on('error', (err) => this.#socketOnError(err));
    socket.on('close', () => this.#socketOnClose());
  }

  /** Ends the connection now. Idempotent. */
  destroy(): void {
    this.#socket.destroy();
  }

  #setState(next: State): void {
    this.#state = next;
  }

  #socketOnData(chunk: Buffer): void {
    if (this.#state === 'PREAMBLE') this.#onPreambleBytes(chunk);
    else if (this.#state === 'AWAIT_INIT' || this.#state === 'OPEN') {
      this.#framer.push(chunk);
      this.#pump();
    }
  }

  #onPreambleBytes(chunk: Buffer): void {
    this.#preamble = Buffer.concat([this.#preamble, chunk]);
    const scan = scanPreamble(this.#preamble);
    if (scan.kind === 'incomplete') return;
    if (scan.kind === 'too-long') {
      this.#refuse(`preamble longer than ${PREAMBLE_MAX_BYTES} bytes`);
      return;
    }
    const reason = checkPreamble(scan.line, this.#options.tokenDigest);
    if (reason !== undefined) {
      this.#refuse(reason);
      return;
    }
    clearTimeout(this.#deadline);
    this.#preamble = Buffer.alloc(0);
    this.#authenticated = true;
    this.#setState('AWAIT_INIT');
    this.#events.onAuthenticated();
    this.#socket.write('OK\n');
    this.#framer.push(scan.rest);
    this.#pump();
  }

  /** Says why and closes our side; the deadline destroys a peer that keeps its side open. */
  #refuse(reason: string): void {
    this.#options.log.warn(reason === 'bad token' ? 'bad token' : 'connection refused', {
      conn: this.#options.id,
      reason,
      remote: this.#socket.remoteAddress,
    });
    this.#setState('REFUSED');
    this.#preamble = Buffer.alloc(0);
    this.#socket.end(`ERR ${reason}\n`);
  }

  #deadlineOnFire(): void {
    if (this.#state === 'PREAMBLE') this.#refuse('no preamble within the time limit');
    else this.#socket.destroy();
    this.#deadline = setTimeout(() => this.#socket.destroy(), this.#options.preambleTimeoutMs ?? PREAMBLE_TIMEOUT_MS);
  }

  /** Serves whole packets while the limits allow, then pauses or resumes the socket. */
  #pump(): void {
    while ((this.#state === 'AWAIT_INIT' || this.#state === 'OPEN') && this.#inFlight < MAX_IN_FLIGHT) {
      if (this.#writeBlocked) break;
      const body = this.#framer.next();
      if (body === undefined) break;
      if (body === 'oversize' || body === 'runt') {
        this.#protocolError(`${body} packet`);
        return;
      }
      const req = parseRequest(body);
      if (this.#state === 'AWAIT_INIT') {
        if (req.type !== 'init') {
          this.#protocolError(`expected INIT, got ${req.type}`);
          return;
        }
        this.#setState('OPEN');
        this.#write(encodeVersion(EXTENSIONS));
        continue;
      }
      if (req.type === 'init') {
        this.#protocolError('INIT twice');
        return;
      }
      this.#inFlight++;
      this.#requests++;
      void this.#session.handle(req).then((reply) => this.#onReply(reply));
    }
    if (this.#state !== 'AWAIT_INIT' && this.#state !== 'OPEN') return;
    if (this.#inFlight >= MAX_IN_FLIGHT || this.#writeBlocked) this.#socket.pause();
    else this.#socket.resume();
  }

  #onReply(reply: Buffer): void {
    this.#inFlight--;
    if (this.#state !== 'OPEN') return;
    this.#write(reply);
    this.#pump();
  }

  #write(bytes: Buffer): void {
    if (!this.#socket.write(bytes)) this.#writeBlocked = true;
  }

  #socketOnDrain(): void {
    this.#writeBlocked = false;
    this.#pump();
  }

  #protocolError(reason: string): void {
    this.#options.log.warn('protocol error', { conn: this.#options.id, reason });
    this.#socket.destroy();
  }

  #socketOnError(err: Error): void {
    if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && (err as NodeJS.ErrnoException).code !== 'EPIPE')
      this.#options.log.warn('socket error', { conn: this.#options.id, error: err.message });
  }

  #socketOnClose(): void {
    if (this.#state === 'CLOSED') return;
    this.#setState('CLOSED');
    clearTimeout(this.#deadline);
    const handles = this.#session.openHandles;
    void this.#session.close();
    this.#events.onClosed({ authenticated: this.#authenticated, requests: this.#requests, handles });
  }
}
