// One mux carrier over one byte stream (a port-forward on the laptop, its
// TCP connection in the relay pod): frames in and out, streams by id,
// credit per stream and for the whole carrier, keepalive, graceful close.
//
//   client: preface + HELLO {token, protocol, window…} ─► relay
//           ◄─ HELLO {protocol, version, window…}  (or GOAWAY with the reason)
//   then    OPEN/DATA/RESET/WINDOW ◄─► REPLY/DATA/RESET/WINDOW, PING, GOAWAY
//
// Output is corked for the rest of the turn, so the frames of one turn leave
// in one write; a transport that says it is full stops DATA until 'drain'.
// Input is never paused: a reader that stops is bounded by its credit.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  encodeFrame,
  encodeJsonFrame,
  encodeU32Frame,
  FLAG_ACK,
  FLAG_FIN,
  FrameDecoder,
  FrameType,
  MUX_PREFACE,
  MuxError,
} from './mux-frame.js';
import { type MuxHeaders, MuxStream, type MuxStreamHost } from './mux-stream.js';

/** Each end's receive windows, announced in HELLO (the sender keeps to the peer's). */
export interface MuxWindows {
  streamWindow: number;
  connectionWindow: number;
}

export interface MuxSessionOptions extends MuxWindows {
  role: 'client' | 'server';
  /** Server: streams open at once before new ones are refused. */
  maxStreams?: number;
  /** Server: a new stream and its request headers. */
  onStream?: (stream: MuxStream, headers: MuxHeaders) => void;
  /** Server: the client's HELLO; a string refuses it (sent in GOAWAY), an object is the answer. */
  onHello?: (hello: Record<string, unknown>) => Record<string, unknown> | string;
}

/**
 * Carrier credit goes back once this much is owed (or a quarter of the
 * window, if less): a WINDOW frame per turn would be a WebSocket message per
 * turn, which costs the API server more than the bytes it frees.
 */
const CONNECTION_CREDIT_BATCH = 1024 * 1024;

export class MuxProtocolError extends Error {}

/**
 * An HTTP/2 server's first bytes: its SETTINGS frame (24-bit length, type
 * 4, stream 0). A relay older than the mux carrier sends them at once.
 */
function looksLikeHttp2(chunk: Buffer): boolean {
  // Byte 4 is SETTINGS' flags (0, or 1 for an ACK); in a mux frame it is the type, 7 for HELLO.
  return (
    chunk.length >= 9 && chunk[3] === 0x04 && (chunk[4] as number) <= 1 && (chunk.readUInt32BE(5) & 0x7fffffff) === 0
  );
}

export class MuxSession extends EventEmitter implements MuxStreamHost {
  connectionCredit = 0;
  readonly #transport: Duplex;
  readonly #options: MuxSessionOptions;
  readonly #decoder: FrameDecoder;
  readonly #streams = new Map<number, MuxStream>();
  readonly #blocked = new Set<MuxStream>();
  #peerStreamWindow = 0;
  #nextId = 1;
  #congested = false;
  #corked = false;
  #owed = 0;
  #helloDone = false;
  #closing = false;
  #peerGoingAway = false;
  #destroyed = false;
  #pings: ((err: Error | null) => void)[] = [];

  constructor(transport: Duplex, options: MuxSessionOptions) {
    super();
    this.#transport = transport;
    this.#options = options;
    this.#decoder = new FrameDecoder({
      data: (id, piece, _last, fin) => this.#onData(id, piece, fin),
      control: (type, flags, id, payload) => this.#onControl(type, flags, id, payload),
      malformed: (reason) => this.#protocolError(reason),
    });
    transport.on('data', (chunk: Buffer) => {
      if (!this.#helloDone && options.role === 'client' && looksLikeHttp2(chunk)) {
        this.destroy(new MuxProtocolError('the relay answered in HTTP/2: it speaks only tunnel protocol 1'));
        return;
      }
      this.#decoder.push(chunk);
    });
    transport.on('drain', () => this.#onDrain());
    transport.on('error', (err: Error) => this.destroy(err));
    transport.on('close', () => this.destroy());
    transport.on('end', () => this.destroy());
  }

  /** Client: preface and HELLO; resolves with the relay's HELLO. */
  static connect(
    transport: Duplex,
    hello: Record<string, unknown>,
    options: Omit<MuxSessionOptions, 'role'>,
  ): Promise<{ session: MuxSession; reply: Record<string, unknown> }> {
    const session = new MuxSession(transport, { ...options, role: 'client' });
    return new Promise((resolve, reject) => {
      const onClose = (err?: Error): void => {
        session.off('hello', onHello);
        reject(err ?? new MuxProtocolError('the relay closed the connection during the handshake'));
      };
      const onHello = (reply: Record<string, unknown>): void => {
        session.off('close', onClose);
        resolve({ session, reply });
      };
      session.once('hello', onHello);
      session.once('close', onClose);
      session.#send([
        MUX_PREFACE,
        encodeJsonFrame(FrameType.Hello, 0, 0, {
          ...hello,
          streamWindow: options.streamWindow,
          connectionWindow: options.connectionWindow,
        }),
      ]);
    });
  }

  get alive(): boolean {
    return !this.#destroyed;
  }

  get streamWindow(): number {
    return this.#options.streamWindow;
  }

  get congested(): boolean {
    return this.#congested;
  }

  /** No new streams: closing, told to go away, or gone. */
  get closed(): boolean {
    return this.#closing || this.#peerGoingAway || this.#destroyed;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** Client: opens a stream with `headers`; `endStream`: no body follows. */
  request(headers: MuxHeaders, options: { endStream?: boolean } = {}): MuxStream {
    if (this.closed) throw new MuxProtocolError('the mux carrier is closed');
    const id = this.#nextId;
    this.#nextId += 2;
    const stream = new MuxStream(this, id, this.#peerStreamWindow);
    this.#streams.set(id, stream);
    const fin = options.endStream === true;
    this.#send([encodeJsonFrame(FrameType.Open, fin ? FLAG_FIN : 0, id, headers)]);
    if (fin) stream.end();
    return stream;
  }

  /** Sends a PING; `callback` runs on its answer (or with an error if the carrier ends first). */
  ping(callback: (err: Error | null) => void): void {
    if (this.#destroyed) {
      callback(new MuxProtocolError('the mux carrier is gone'));
      return;
    }
    this.#pings.push(callback);
    this.#send([encodeFrame(FrameType.Ping, 0, 0, Buffer.alloc(8))]);
  }

  /** Graceful: GOAWAY, open streams finish, then the transport ends. */
  close(): void {
    if (this.#closing || this.#destroyed) return;
    this.#closing = true;
    this.#send([this.#goAwayFrame(MuxError.NoError, 'closing')]);
    this.#endIfIdle();
  }

  /** Now: every open stream ends as reset, the transport is destroyed. */
  destroy(err?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const stream of [...this.#streams.values()]) stream.onCarrierLost();
    this.#streams.clear();
    this.#blocked.clear();
    for (const ping of this.#pings.splice(0)) ping(new MuxProtocolError('the mux carrier is gone'));
    this.#transport.destroy();
    this.emit('close', err);
  }

  // ---- MuxStreamHost ---------------------------------------------------------

  send(parts: Buffer[]): void {
    this.#send(parts);
  }

  waitForRoom(stream: MuxStream): void {
    this.#blocked.add(stream);
  }

  consumed(n: number): void {
    if (n === 0 || this.#destroyed) return;
    this.#owed += n;
    if (this.#owed >= Math.min(CONNECTION_CREDIT_BATCH, this.#options.connectionWindow / 4)) this.#payOwed();
  }

  forget(stream: MuxStream): void {
    this.#streams.delete(stream.id);
    this.#blocked.delete(stream);
    this.#endIfIdle();
  }

  // ---- internals ---------------------------------------------------------------

  #send(parts: Buffer[]): void {
    if (this.#destroyed) return;
    const t = this.#transport;
    if (!this.#corked) {
      this.#corked = true;
      t.cork();
      process.nextTick(() => {
        this.#corked = false;
        t.uncork();
      });
    }
    for (const part of parts) if (!t.write(part)) this.#congested = true;
  }

  #onDrain(): void {
    this.#congested = false;
    this.#flushBlocked();
  }

  #flushBlocked(): void {
    if (this.#blocked.size === 0) return;
    const waiting = [...this.#blocked];
    this.#blocked.clear();
    for (const stream of waiting) {
      stream.flush();
      if (this.#congested) {
        // The rest keep their turn.
        for (const s of waiting) if (!s.destroyed) this.#blocked.add(s);
        return;
      }
    }
  }

  #payOwed(): void {
    if (this.#owed === 0 || this.#destroyed) return;
    this.#send([encodeU32Frame(FrameType.Window, 0, 0, this.#owed)]);
    this.#owed = 0;
  }

  #endIfIdle(): void {
    if ((this.#closing || this.#peerGoingAway) && this.#streams.size === 0 && !this.#destroyed) {
      this.#transport.end();
    }
  }

  #goAwayFrame(code: number, text: string): Buffer {
    const body = Buffer.from(`....${text.slice(0, 1000)}`, 'utf8');
    body.writeUInt32BE(code, 0);
    return encodeFrame(FrameType.GoAway, 0, 0, body);
  }

  #protocolError(reason: string): void {
    if (this.#destroyed) return;
    this.#send([this.#goAwayFrame(MuxError.Protocol, reason)]);
    this.destroy(new MuxProtocolError(`mux protocol error: ${reason}`));
  }

  #onData(id: number, piece: Buffer, fin: boolean): void {
    if (!this.#helloDone) {
      this.#protocolError('DATA before HELLO');
      return;
    }
    const stream = this.#streams.get(id);
    if (!stream) {
      // A stream that is gone (reset, refused): its bytes still count against the carrier.
      this.consumed(piece.length);
      return;
    }
    stream.onData(piece, fin);
  }

  #onControl(type: number, flags: number, id: number, payload: Buffer): void {
    if (!this.#helloDone && type !== FrameType.Hello && type !== FrameType.GoAway) {
      this.#protocolError(`frame type ${type} before HELLO`);
      return;
    }
    switch (type) {
      case FrameType.Hello:
        this.#onHello(payload);
        return;
      case FrameType.Open:
        this.#onOpen(id, flags, payload);
        return;
      case FrameType.Reply: {
        const headers = this.#json(payload);
        if (headers) this.#streams.get(id)?.onReply(headers as MuxHeaders, (flags & FLAG_FIN) !== 0);
        return;
      }
      case FrameType.Reset:
        if (payload.length >= 4) this.#streams.get(id)?.onReset(payload.readUInt32BE(0));
        return;
      case FrameType.Window: {
        if (payload.length < 4) {
          this.#protocolError('WINDOW without an increment');
          return;
        }
        const increment = payload.readUInt32BE(0);
        if (id === 0) {
          this.connectionCredit += increment;
          if (!this.#congested) this.#flushBlocked();
        } else this.#streams.get(id)?.onWindow(increment);
        return;
      }
      case FrameType.Ping:
        if (flags & FLAG_ACK) this.#pings.shift()?.(null);
        else this.#send([encodeFrame(FrameType.Ping, FLAG_ACK, 0, payload)]);
        return;
      case FrameType.GoAway: {
        const code = payload.length >= 4 ? payload.readUInt32BE(0) : MuxError.Protocol;
        const text = payload.subarray(4).toString('utf8');
        this.#peerGoingAway = true;
        this.emit('goaway', code, text);
        if (code !== MuxError.NoError || !this.#helloDone)
          this.destroy(new MuxProtocolError(text || `the relay ended the carrier (code ${code})`));
        else this.#endIfIdle();
        return;
      }
    }
  }

  #onHello(payload: Buffer): void {
    if (this.#helloDone) {
      this.#protocolError('a second HELLO');
      return;
    }
    const hello = this.#json(payload);
    if (!hello) return;
    const streamWindow = Number(hello.streamWindow);
    const connectionWindow = Number(hello.connectionWindow);
    if (!(streamWindow > 0 && connectionWindow > 0 && streamWindow <= 2 ** 31 && connectionWindow <= 2 ** 31)) {
      this.#protocolError('HELLO without windows');
      return;
    }
    this.#peerStreamWindow = streamWindow;
    this.connectionCredit = connectionWindow;
    if (this.#options.role === 'client') {
      this.#helloDone = true;
      this.emit('hello', hello);
      return;
    }
    const answer = this.#options.onHello?.(hello) ?? {};
    if (typeof answer === 'string') {
      this.#send([this.#goAwayFrame(MuxError.Protocol, answer)]);
      this.#transport.end();
      return;
    }
    this.#helloDone = true;
    this.#send([
      encodeJsonFrame(FrameType.Hello, 0, 0, {
        ...answer,
        streamWindow: this.#options.streamWindow,
        connectionWindow: this.#options.connectionWindow,
      }),
    ]);
  }

  #onOpen(id: number, flags: number, payload: Buffer): void {
    if (this.#options.role !== 'server') {
      this.#protocolError('OPEN toward a client');
      return;
    }
    if (id === 0 || id % 2 === 0 || this.#streams.has(id)) {
      this.#protocolError(`OPEN with stream id ${id}`);
      return;
    }
    const headers = this.#json(payload);
    if (!headers) return;
    if (this.#closing || this.#streams.size >= (this.#options.maxStreams ?? Number.POSITIVE_INFINITY)) {
      this.#send([encodeU32Frame(FrameType.Reset, 0, id, MuxError.RefusedStream)]);
      return;
    }
    const stream = new MuxStream(this, id, this.#peerStreamWindow);
    this.#streams.set(id, stream);
    if (flags & FLAG_FIN) stream.onData(Buffer.alloc(0), true);
    this.#options.onStream?.(stream, headers as MuxHeaders);
  }

  #json(payload: Buffer): Record<string, unknown> | undefined {
    try {
      const value = JSON.parse(payload.toString('utf8')) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {}
    this.#protocolError('a frame whose JSON is not an object');
    return undefined;
  }
}
