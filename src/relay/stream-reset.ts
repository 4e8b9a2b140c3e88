// RST_STREAM(CONNECT_ERROR) without a FIN in front of it. Node's
// Http2Stream.close(code) first ends the writable side, which sends an
// END_STREAM that the peer reads as a TCP half-close before the reset
// arrives; a reset must not look like a FIN (RFC 9113 §8.5). Skipping the
// stream's _final avoids that END_STREAM; the RST_STREAM then goes alone.
import http2 from 'node:http2';

const { NGHTTP2_CONNECT_ERROR } = http2.constants;

export function resetStream(stream: http2.Http2Stream, code: number = NGHTTP2_CONNECT_ERROR): void {
  if (stream.closed || stream.destroyed) return;
  if (!stream.writableEnded) (stream as unknown as { _final(cb: () => void): void })._final = (cb) => cb();
  stream.close(code);
}
