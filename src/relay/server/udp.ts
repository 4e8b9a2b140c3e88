// One CONNECT stream carrying one UDP flow, relay side (transport udp/1).
//
//   HEADERS CONNECT host:port, kvpn-transport: udp/1 ─► resolve, connected UDP socket ─► 200
//   DATA [len16 | datagram]* ─► send()           recv() ─► DATA [len16 | datagram]
//   END_STREAM either way, or no datagram for idleMs ─► flow closed
//
// UDP semantics are kept: a datagram the client side cannot take right now
// (stream buffer over UDP_FLOW_QUEUE_BYTES) is dropped and counted, never queued without bound.
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import http2 from 'node:http2';
import net from 'node:net';
import { DatagramDecoder, encodeDatagram } from '../datagram-codec.js';
import { classifySocketError, formatProxyStatus, HEADER_PEER, HEADER_PROXY_STATUS } from '../protocol.js';
import { UDP_FLOW_QUEUE_BYTES } from './config.js';
import type { FlowContext } from './flow.js';

const { NGHTTP2_NO_ERROR } = http2.constants;

export function relayUdp(stream: http2.ServerHttp2Stream, host: string, port: number, ctx: FlowContext): void {
  const started = ctx.now();
  let socket: dgram.Socket | undefined;
  let finished = false;
  let idleTimer: NodeJS.Timeout | undefined;

  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(idleTimer);
    socket?.close();
    ctx.release();
  };
  const touch = (): void => {
    idleTimer?.refresh();
  };

  stream.on('error', () => {});
  stream.on('close', finish);

  void (async () => {
    let address = host;
    let family: 4 | 6 = net.isIPv6(host) ? 6 : 4;
    if (!net.isIP(host)) {
      try {
        const found = await lookup(host, { family: 0 });
        address = found.address;
        family = found.family === 6 ? 6 : 4;
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const outcome = classifySocketError(e.code, e.message);
        ctx.dialFailed(outcome, host, port, ctx.now() - started);
        if (!stream.destroyed) {
          stream.respond(
            { ':status': outcome.status, [HEADER_PROXY_STATUS]: formatProxyStatus(outcome) },
            { endStream: true },
          );
        }
        finish();
        return;
      }
    }
    if (finished) return;
    const sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    socket = sock;
    sock.on('error', (err: NodeJS.ErrnoException) => {
      // ICMP errors on a connected UDP socket (e.g. port unreachable) surface here: UDP drops them.
      ctx.log.debug('udp socket error', { target: `${host}:${port}`, error: err.code ?? err.message });
    });
    sock.connect(port, address, () => {
      if (finished) return;
      ctx.dialed(host, port, ctx.now() - started);
      stream.respond({ ':status': 200, [HEADER_PEER]: `${address}:${port}` });
      idleTimer = setTimeout(() => {
        ctx.log.debug('idle UDP flow closed', { target: `${host}:${port}` });
        stream.end();
        if (!stream.closed) stream.close(NGHTTP2_NO_ERROR);
      }, ctx.idleMs);
      const decoder = new DatagramDecoder();
      stream.on('data', (chunk: Buffer) => {
        touch();
        for (const datagram of decoder.push(chunk)) {
          ctx.counted(datagram.length, 0);
          sock.send(datagram);
        }
      });
      stream.on('end', () => {
        stream.end();
      });
      sock.on('message', (msg: Buffer) => {
        touch();
        if (stream.writableLength > UDP_FLOW_QUEUE_BYTES || stream.writableEnded) {
          ctx.dropped(1);
          return;
        }
        ctx.counted(0, msg.length);
        stream.write(encodeDatagram(msg));
      });
    });
  })();
}
