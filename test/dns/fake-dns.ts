// A scripted DNS server for tests, on loopback UDP and TCP: stands in for
// the cluster DNS (reached through a test Dialer) and for the machine's
// upstream resolver. It records every name it is asked.
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { type DnsRecord, decodeMessage, encodeMessage } from '../../src/dns/codec.js';
import { FrameDecoder, frame } from '../../src/dns/tcp-framing.js';
import type { DatagramFlow, Dialer, DialRequest } from '../../src/tun/stack/dialer.js';

export type Script = (
  name: string,
  type: string,
  transport: 'udp' | 'tcp',
) => { rcode?: string; answers?: DnsRecord[]; truncate?: boolean } | 'silent';

export interface FakeDns {
  udpPort: number;
  tcpPort: number;
  asked: string[];
  tcpConnections: number;
  close(): Promise<void>;
}

export async function startFakeDns(script: Script, listen: { host?: string; port?: number } = {}): Promise<FakeDns> {
  const host = listen.host ?? '127.0.0.1';
  const asked: string[] = [];
  const respond = (msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined => {
    const q = decodeMessage(msg);
    const question = q?.questions?.[0];
    if (!q || !question) return undefined;
    asked.push(`${question.name} ${question.type} ${transport}`);
    const out = script(question.name.toLowerCase(), question.type, transport);
    if (out === 'silent') return undefined;
    return encodeMessage({
      type: 'response',
      id: q.id ?? 0,
      flags: (out.truncate ? 0x0200 : 0) | 0x0180 | rcodeValue(out.rcode ?? 'NOERROR'),
      questions: [question],
      answers: out.truncate ? [] : (out.answers ?? []),
    });
  };
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const r = respond(msg, 'udp');
    if (r) udp.send(r, rinfo.port, rinfo.address);
  });
  udp.bind(listen.port ?? 0, host);
  await once(udp, 'listening');
  const sockets = new Set<net.Socket>();
  const fake: FakeDns = {
    udpPort: udp.address().port,
    tcpPort: 0,
    asked,
    tcpConnections: 0,
    close: async () => {
      udp.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
  const tcp = net.createServer((socket) => {
    fake.tcpConnections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (let m = decoder.next(); m; m = decoder.next()) {
        const r = respond(Buffer.from(m), 'tcp');
        if (r) socket.write(frame(r));
      }
    });
  });
  tcp.listen(listen.port ?? 0, host);
  await once(tcp, 'listening');
  fake.tcpPort = (tcp.address() as net.AddressInfo).port;
  return fake;
}

function rcodeValue(rcode: string): number {
  return { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 }[rcode] ?? 0;
}

/**
 * A Dialer standing in for the tunnel: TCP to `clusterIp:53` reaches the
 * fake cluster DNS on loopback; anything else is refused. It records every
 * dial so tests can tell what went "through the tunnel".
 */
export class LoopbackDialer implements Dialer {
  readonly dials: DialRequest[] = [];
  readonly #routes: Map<string, number>;

  constructor(routes: Record<string, number>) {
    this.#routes = new Map(Object.entries(routes));
  }

  async dialTcp(request: DialRequest): Promise<Duplex> {
    this.dials.push(request);
    const port = this.#routes.get(`${request.destination.address}:${request.destination.port}`);
    if (port === undefined) throw new Error(`no route to ${request.destination.address}`);
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return socket;
  }

  async openUdp(request: DialRequest): Promise<DatagramFlow> {
    this.dials.push(request);
    throw new Error('LoopbackDialer carries TCP only');
  }
}
