// The relay's side of the mux carrier (tunnel protocol 2): which carrier a
// new connection speaks, by its first bytes, and a mux session whose
// streams go to the same handlers as HTTP/2 streams (server.ts).
//
//   "KVPN/MUX" + HELLO {token} ─► token checked once ─► HELLO {protocol, version}
//   anything else ─► the HTTP/2 server (which checks its own preface)
import type http2 from 'node:http2';
import type { Socket } from 'node:net';
import { MUX_PREFACE, MUX_PROTOCOL_VERSION } from '../mux-frame.js';
import { MuxSession } from '../mux-session.js';
import type { MuxStream } from '../mux-stream.js';
import { CONNECTION_WINDOW_BYTES, MAX_CONCURRENT_STREAMS, STREAM_WINDOW_BYTES } from '../protocol.js';
import type { RelayLog } from './log.js';

/** Reads the first bytes of `socket` and hands it on, those bytes unread (http2) or past the preface (mux). */
export function sniffCarrier(socket: Socket, to: { mux(rest: Buffer): void; http2(): void }): void {
  let head: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    head = head.length ? Buffer.concat([head, chunk]) : chunk;
    const prefix = head.subarray(0, MUX_PREFACE.length);
    if (head.length < MUX_PREFACE.length && MUX_PREFACE.subarray(0, head.length).equals(prefix)) return;
    socket.off('data', onData);
    socket.pause();
    if (prefix.equals(MUX_PREFACE)) {
      to.mux(head.subarray(MUX_PREFACE.length));
      return;
    }
    socket.unshift(head);
    to.http2();
  };
  socket.on('data', onData);
  socket.on('error', () => {});
}

export interface MuxCarrierOptions {
  log: RelayLog;
  tokenOk(token: string): boolean;
  info: { version: string; node: string };
  onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void;
}

export function serveMuxCarrier(socket: Socket, rest: Buffer, options: MuxCarrierOptions): MuxSession {
  socket.setNoDelay(true);
  const session = new MuxSession(socket, {
    role: 'server',
    streamWindow: STREAM_WINDOW_BYTES,
    connectionWindow: CONNECTION_WINDOW_BYTES,
    maxStreams: MAX_CONCURRENT_STREAMS,
    onHello: (hello) => {
      if (typeof hello.token !== 'string' || !options.tokenOk(hello.token)) {
        options.log.warn('mux carrier without a valid token refused', {});
        return 'missing or wrong token';
      }
      return { protocol: MUX_PROTOCOL_VERSION, ...options.info };
    },
    // A MuxStream is the subset of ServerHttp2Stream the handlers use (mux-stream.ts).
    onStream: (stream: MuxStream, headers) =>
      options.onStream(stream as unknown as http2.ServerHttp2Stream, headers as http2.IncomingHttpHeaders),
  });
  session.on('close', (err?: Error) => {
    if (err) options.log.warn('mux carrier ended', { error: err.message });
  });
  options.log.info('mux carrier started', {});
  if (rest.length) socket.unshift(rest);
  socket.resume();
  return session;
}
