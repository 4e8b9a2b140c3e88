// A CONNECT stream joined to a TCP socket once both exist: the relay's side
// of a dialed target (tcp.ts) and of an accepted inbound connection
// (accept.ts). TCP's meanings kept (RFC 9113 §8.5):
//   DATA        ◄──────────────► socket bytes (backpressure both ways)
//   END_STREAM  ◄──────────────► FIN (half-close)
//   RST_STREAM  ◄──────────────► RST; idle for idleMs ─► both reset
import http2 from 'node:http2';
import type net from 'node:net';
import { resetStream } from '../stream-reset.js';
import type { FlowContext } from './flow.js';

const { NGHTTP2_NO_ERROR } = http2.constants;

/**
 * Joins `stream` and `socket`. Socket → stream: a socket created with an
 * `onread` that writes to the stream (tcp.ts) brings its own; otherwise
 * pass `readsWired: false` and 'data' events are used. `onClientEnded` is
 * called on a real END_STREAM from the client (it becomes a FIN).
 */
export function spliceSocket(
  stream: http2.ServerHttp2Stream,
  socket: net.Socket,
  ctx: FlowContext,
  label: string,
  onClientEnded: () => void,
  readsWired = true,
): void {
  socket.setTimeout(ctx.idleMs, () => {
    ctx.log.info('idle TCP flow closed', { target: label, idleMs: ctx.idleMs });
    resetSocket(socket);
    resetStream(stream);
  });
  // Socket → stream: a full stream pauses the socket; 'drain' resumes it; the FIN ends the stream.
  if (!readsWired) {
    socket.on('data', (chunk: Buffer) => {
      ctx.counted(0, chunk.length);
      if (!stream.destroyed && !stream.writableEnded && !stream.write(chunk)) socket.pause();
    });
  }
  stream.on('drain', () => socket.resume());
  socket.on('end', () => {
    if (!stream.destroyed && !stream.writableEnded) stream.end();
  });
  // Stream → socket by hand: Node ends a reset stream's readable too, and
  // only a real END_STREAM may become a FIN.
  // HTTP/2 hands DATA over in pieces of ~13 KiB on average; the pieces of
  // one turn of the event loop go out in one writev.
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  stream.on('data', (chunk: Buffer) => {
    ctx.counted(chunk.length, 0);
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    if (!socket.write(chunk)) stream.pause();
  });
  socket.on('drain', () => stream.resume());
  stream.on('end', () => {
    if (stream.aborted || stream.rstCode !== NGHTTP2_NO_ERROR) return;
    onClientEnded();
    socket.end();
  });
}

/**
 * Closes a socket with a TCP RST when it still can. After our FIN (the
 * client half-closed, then reset) libuv refuses the reset (EINVAL) and Node
 * then never closes the handle — the fd leaks and the event loop spins on it
 * — so a plain close is all that is left there.
 */
export function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded || socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}
