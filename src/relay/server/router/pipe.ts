// Raw byte paths of the router, both with TCP's meanings kept (half-close
// stays a half-close, a reset stays a reset) and backpressure both ways:
//   pipeSockets: cluster client ⇄ the pods (the fast path: nothing parsed)
//   joinLaptop:  cluster client ⇄ a parked stream answered 200 (splice.ts, as accept.ts does)
import http2 from 'node:http2';
import net from 'node:net';
import { resetStream } from '../../stream-reset.js';
import type { FlowContext } from '../flow.js';
import type { RelayLog } from '../log.js';
import { resetSocket, spliceSocket } from '../splice.js';

const { NGHTTP2_NO_ERROR } = http2.constants;

/** A TCP connection to `upstream` (host:port), half-open allowed; errors are the caller's to handle. */
export function connectUpstream(host: string, port: number): net.Socket {
  return net.connect({ host, port, allowHalfOpen: true, noDelay: true });
}

/** Joins two sockets; `head` (bytes already read from `a`) goes to `b` first. */
export function pipeSockets(a: net.Socket, b: net.Socket, head?: Buffer): void {
  if (head?.length) b.write(head);
  oneWay(a, b);
  oneWay(b, a);
  a.on('error', () => resetSocket(b));
  b.on('error', () => resetSocket(a));
  a.on('close', () => closed(a, b));
  b.on('close', () => closed(b, a));
  // `a` may have been paused by whoever looked at it first (the sniffer, a wait for a parked stream).
  a.resume();
}

function oneWay(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  const fromOnEnd = (): void => {
    if (!to.destroyed && !to.writableEnded) to.end();
  };
  if (from.readableEnded) fromOnEnd();
  else from.on('end', fromOnEnd);
}

/** One side closed: cleanly (FIN both ways) lets the other finish; anything else resets it. */
function closed(side: net.Socket, other: net.Socket): void {
  if (other.destroyed) return;
  if (!(side.readableEnded && side.writableFinished)) resetSocket(other);
}

/** Joins a cluster client's socket to a parked stream that was just answered 200 (splice.ts does the bytes). */
export function joinLaptop(
  stream: http2.ServerHttp2Stream,
  socket: net.Socket,
  log: RelayLog,
  idleMs: number,
  label: string,
  head?: Buffer,
): void {
  let clientEnded = false;
  stream.on('error', () => {});
  stream.on('close', () => {
    const clean = stream.rstCode === NGHTTP2_NO_ERROR && clientEnded && stream.writableFinished;
    if (!clean) resetSocket(socket);
  });
  // The cluster client reset the connection: RST_STREAM(CONNECT_ERROR) toward the laptop.
  socket.on('error', () => resetStream(stream));
  if (stream.destroyed) {
    resetSocket(socket);
    return;
  }
  if (head?.length) stream.write(head);
  spliceSocket(
    stream,
    socket,
    flowContext(log, idleMs),
    label,
    () => {
      clientEnded = true;
    },
    false,
  );
  socket.resume();
}

function flowContext(log: RelayLog, idleMs: number): FlowContext {
  return {
    log,
    idleMs,
    connectTimeoutMs: 0,
    now: Date.now,
    dialed() {},
    dialFailed() {},
    counted() {},
    dropped() {},
    release() {},
  };
}
