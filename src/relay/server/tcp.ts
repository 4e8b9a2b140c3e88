// One CONNECT stream carrying one TCP connection, relay side.
//
//   HEADERS CONNECT host:port ─► net.connect ─► 200 | 502/504 + proxy-status (END_STREAM)
//   DATA        ◄──────────────► socket bytes (backpressure both ways; target reads of up to 256 KiB)
//   END_STREAM  ◄──────────────► FIN (half-close, allowHalfOpen)
//   RST_STREAM(CONNECT_ERROR) ◄─► RST (RFC 9113 §8.5)
import http2 from 'node:http2';
import net from 'node:net';
import {
  classifySocketError,
  type DialOutcome,
  formatProxyStatus,
  HEADER_DIAL_MICROS,
  HEADER_PEER,
  HEADER_PROXY_STATUS,
} from '../protocol.js';
import { resetStream } from '../stream-reset.js';
import type { FlowContext } from './flow.js';
import { resetSocket, spliceSocket } from './splice.js';

const { NGHTTP2_NO_ERROR } = http2.constants;

export function relayTcp(stream: http2.ServerHttp2Stream, host: string, port: number, ctx: FlowContext): void {
  const started = ctx.now();
  // net.Socket hands its options to stream.Duplex, so the write high-water mark applies.
  const options: net.TcpNetConnectOpts & { writableHighWaterMark: number } = {
    host,
    port,
    allowHalfOpen: true,
    noDelay: true,
    writableHighWaterMark: TARGET_WRITE_HIGH_WATER_BYTES,
    // Target → client without 'data' events: reads land in buffers handed on
    // to the stream as they are (see keepRead).
    onread: {
      buffer: takeReadBuffer,
      callback: (n: number, buf: Uint8Array): boolean => {
        ctx.counted(0, n);
        if (stream.destroyed || stream.writableEnded) return true;
        return stream.write(keepRead(buf as Buffer, n));
      },
    },
  };
  const socket = net.connect(options);
  let connected = false;
  let finished = false;
  /** The client sent END_STREAM (a real half-close, not the end of a reset). */
  let clientEnded = false;
  const timer = setTimeout(() => {
    fail({
      status: 504,
      error: 'connection_timeout',
      details: `no answer from ${host}:${port} in ${ctx.connectTimeoutMs} ms`,
    });
  }, ctx.connectTimeoutMs);

  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    ctx.release();
  };
  const fail = (outcome: DialOutcome): void => {
    if (connected || finished) return;
    socket.destroy();
    ctx.dialFailed(outcome, host, port, ctx.now() - started);
    if (!stream.destroyed && !stream.headersSent) {
      stream.respond(
        { ':status': outcome.status, [HEADER_PROXY_STATUS]: formatProxyStatus(outcome) },
        { endStream: true },
      );
    }
    finish();
  };

  stream.on('error', () => {});
  stream.on('close', () => {
    if (!connected) {
      // The client gave up before the dial finished.
      socket.destroy();
      finish();
      return;
    }
    // A clean end is END_STREAM both ways with no error; anything else (RST_STREAM,
    // the carrier gone) resets the target too.
    const clean = stream.rstCode === NGHTTP2_NO_ERROR && clientEnded && stream.writableFinished;
    if (!clean) resetSocket(socket);
    finish();
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (!connected) return fail(classifySocketError(err.code, err.message));
    // The target reset the connection: RST_STREAM(CONNECT_ERROR) toward the client.
    ctx.log.debug('target reset', { target: `${host}:${port}`, error: err.code ?? err.message });
    resetStream(stream);
  });
  socket.once('connect', () => {
    connected = true;
    clearTimeout(timer);
    if (stream.destroyed) {
      socket.destroy();
      finish();
      return;
    }
    const dialMs = ctx.now() - started;
    ctx.dialed(host, port, dialMs);
    stream.respond({
      ':status': 200,
      [HEADER_PEER]: `${socket.remoteAddress}:${socket.remotePort}`,
      [HEADER_DIAL_MICROS]: String(Math.round(dialMs * 1000)),
    });
    spliceSocket(stream, socket, ctx, `${host}:${port}`, () => {
      clientEnded = true;
    });
  });
}

/** Bytes queued toward a target before the stream is paused (room for a turn's worth of DATA). */
const TARGET_WRITE_HIGH_WATER_BYTES = 1024 * 1024;
/** Reads from targets go into one large buffer at a time: fewer, larger reads and DATA frames. */
const READ_BYTES = 256 * 1024;
/** A read smaller than this is copied out and the large buffer used again. */
const COPY_BELOW_BYTES = 32 * 1024;
let spare: Buffer | undefined;

function takeReadBuffer(): Buffer {
  const b = spare ?? Buffer.allocUnsafe(READ_BYTES);
  spare = undefined;
  return b;
}

/** The bytes of one read, as a Buffer the stream may keep: big reads keep their buffer, small ones are copied. */
function keepRead(buf: Buffer, n: number): Buffer {
  if (n >= COPY_BELOW_BYTES) return buf.subarray(0, n);
  const copy = Buffer.from(buf.subarray(0, n));
  spare = buf;
  return copy;
}
