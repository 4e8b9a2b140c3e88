// A small DNS client for tests: builds queries, asks a DnsServer directly
// (handle) or over real UDP/TCP sockets, and decodes the answers.
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { type DnsMessage, type DnsOutgoing, decodeMessage, encodeMessage } from '../../src/dns/codec.js';
import type { DnsServer } from '../../src/dns/server.js';
import { FrameDecoder, frame } from '../../src/dns/tcp-framing.js';

export type QType = 'A' | 'AAAA' | 'SRV' | 'PTR' | 'CNAME' | 'SOA' | 'NS' | 'TXT' | 'MX' | 'ANY' | 'AXFR';

export function query(name: string, type: QType, opts: { id?: number; edns?: number; rd?: boolean } = {}): Buffer {
  const message: DnsOutgoing = {
    type: 'query',
    id: opts.id ?? 4242,
    flags: opts.rd === false ? 0 : 0x0100,
    questions: [{ name, type: type as never }],
  };
  if (opts.edns !== undefined)
    message.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, flags: 0 } as never];
  return encodeMessage(message);
}

export const CLIENT = { address: '10.1.0.2', port: 40000 };

/** Sends bytes through server.handle and waits for the reply (undefined: dropped). */
export function handle(
  server: DnsServer,
  bytes: Uint8Array,
  transport: 'udp' | 'tcp' = 'udp',
  client = CLIENT,
): Promise<Buffer | undefined> {
  return new Promise((resolve) => server.handle(bytes, client, transport, resolve));
}

export async function ask(
  server: DnsServer,
  name: string,
  type: QType,
  opts: Parameters<typeof query>[2] = {},
): Promise<DnsMessage> {
  const answer = await handle(server, query(name, type, opts));
  const decoded = answer && decodeMessage(answer);
  if (!decoded) throw new Error(`no decodable answer for ${name} ${type}`);
  return decoded;
}

export function rcodeOf(message: DnsMessage): string {
  return (message as DnsMessage & { rcode?: string }).rcode ?? '';
}

/** The answer data as sorted strings, owner names lower-cased ("A 10.96.10.1", "SRV 0 100 80 web.shop…"). */
export function answers(message: DnsMessage, section: 'answers' | 'authorities' = 'answers'): string[] {
  return (message[section] ?? [])
    .map((rr) => {
      const d = (rr as { data?: unknown }).data;
      if (rr.type === 'SRV') {
        const s = d as { priority: number; weight: number; port: number; target: string };
        return `${rr.name.toLowerCase()} SRV ${s.priority} ${s.weight} ${s.port} ${s.target}`;
      }
      if (rr.type === 'SOA') return `${rr.name.toLowerCase()} SOA ${(d as { mname: string }).mname}`;
      return `${rr.name.toLowerCase()} ${rr.type} ${String(d)}`;
    })
    .sort();
}

export async function udpAsk(
  port: number,
  bytes: Uint8Array,
  host = '127.0.0.1',
  timeoutMs = 2000,
): Promise<Buffer | undefined> {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let timer: NodeJS.Timeout | undefined;
  try {
    socket.send(bytes, port, host);
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    const got = once(socket, 'message').then(([msg]) => msg as Buffer);
    return await Promise.race([got, timeout]);
  } finally {
    clearTimeout(timer);
    socket.close();
  }
}

/** Sends several framed queries on one TCP connection; collects `expect` answers. */
export async function tcpAsk(
  port: number,
  queries: Uint8Array[],
  expect = queries.length,
  host = '127.0.0.1',
): Promise<Buffer[]> {
  const socket = net.connect(port, host);
  await once(socket, 'connect');
  const decoder = new FrameDecoder();
  const out: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (let m = decoder.next(); m; m = decoder.next()) out.push(Buffer.from(m));
      if (out.length >= expect) resolve();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
  socket.write(Buffer.concat(queries.map((q) => frame(q))));
  await done;
  socket.destroy();
  return out;
}
