// What an application sees through the stack, with the Linux kernel as the
// peer: refused, unreachable and timed-out dials, half-close, the server
// closing first, resets both ways, 1,000 concurrent connections, idle
// connections, ping, UDP, IPv6.
import { createSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { DialError, type Dialer, type DialRequest } from '../../../src/tun/stack/dialer.js';
import { DirectDialer } from '../../helpers/direct-dialer.js';
import { isRoot } from '../../helpers/netns.js';
import {
  defaultMap,
  kernelWorld,
  SERVICE_V4,
  SERVICE_V6,
  STACK_V4,
  STACK_V6,
  UNREACHABLE_V4,
  UNREACHABLE_V6,
} from './kernel-world.js';
import { collect } from './servers.js';

const CLIENT = fileURLToPath(new URL('./clients/scenario-client.mjs', import.meta.url));
const skip = !isRoot() && 'needs root (network namespaces, TUN)';
const opts = { skip, timeout: 60_000 };

async function listen(onConnection: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

async function freePort(): Promise<number> {
  const { server, port } = await listen(() => {});
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function scenario(
  ns: { spawn: (cmd: string, args: string[]) => import('node:child_process').ChildProcess },
  ...args: string[]
) {
  const out = await collect(ns.spawn(process.execPath, [CLIENT, ...args]));
  const line = out.stdout.trim().split('\n')[0] ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`client printed ${JSON.stringify(out.stdout)} ${out.stderr}`);
  }
}

t.test('connection refused → ECONNREFUSED at once (RST, no SYN retry)', opts, async (t) => {
  const w = await kernelWorld(t);
  const port = await freePort();
  const r = await scenario(w.ns, 'connect', SERVICE_V4, String(port));
  t.equal(r.result, 'ECONNREFUSED');
  t.ok(r.ms < 1000, `answered before the kernel's first SYN retransmission (${r.ms} ms)`);
  t.equal(w.stack.stats.dialErrors.refused, 1);
  t.equal(w.stack.stats.tcp.resetsSent, 1);
  const r6 = await scenario(w.ns, 'connect', SERVICE_V6, String(port));
  t.equal(r6.result, 'ECONNREFUSED', 'IPv6 too');
});

t.test('unreachable → ICMP destination unreachable → EHOSTUNREACH', opts, async (t) => {
  const w = await kernelWorld(t);
  const r = await scenario(w.ns, 'connect', UNREACHABLE_V4, '80');
  t.equal(r.result, 'EHOSTUNREACH');
  t.equal(w.stack.stats.dialErrors.unreachable, 1);
  t.equal(w.stack.stats.icmp.unreachableSent, 1);
  const r6 = await scenario(w.ns, 'connect', UNREACHABLE_V6, '80');
  t.equal(r6.result, 'EHOSTUNREACH', `ICMPv6 address unreachable (${JSON.stringify(r6)})`);
});

t.test('dial timeout → silence: the kernel retries the SYN, each retry dials again', opts, async (t) => {
  let dials = 0;
  const dialer: Dialer = {
    dialTcp: () => {
      dials++;
      return new Promise((_, reject) => setTimeout(() => reject(new DialError('timeout', 'slow')), 200));
    },
    openUdp: () => Promise.reject(new DialError('error', 'no udp')),
  };
  const w = await kernelWorld(t, { dialer });
  const r = await scenario(w.ns, 'connect', SERVICE_V4, '80', '2500');
  t.equal(r.result, 'timeout', 'the application saw no answer at all');
  t.ok(dials >= 2, `the SYN retransmitted at 1 s was dialed again (${dials} dials)`);
  t.equal(w.stack.stats.tcp.resetsSent, 0, 'no RST');
  t.equal(w.stack.stats.icmp.unreachableSent, 0, 'no ICMP');
  t.equal(w.stack.stats.dialErrors.timeout, dials);
});

t.test('SYNs retransmitted while the dial is pending are absorbed, not dialed twice', opts, async (t) => {
  const { server, port } = await listen((s) => s.end('slow hello'));
  t.teardown(() => server.close());
  let dials = 0;
  const direct = new DirectDialer({ map: defaultMap });
  const dialer: Dialer = {
    dialTcp: (req: DialRequest) => {
      dials++;
      return new Promise<Duplex>((resolve, reject) =>
        setTimeout(() => direct.dialTcp(req).then(resolve, reject), 1500),
      );
    },
    openUdp: (req) => direct.openUdp(req),
  };
  const w = await kernelWorld(t, { dialer });
  const r = await scenario(w.ns, 'half-close', SERVICE_V4, String(port));
  t.equal(r.answer, 'slow hello');
  t.equal(dials, 1);
  t.ok(w.stack.stats.drops.synWhileDialing >= 1, 'the SYN retransmitted at 1 s was absorbed');
});

t.test('half-close: the client shuts writing and still reads the reply', opts, async (t) => {
  const { server, port } = await listen((s) => {
    const parts: Buffer[] = [];
    s.on('data', (d) => parts.push(d));
    s.on('end', () => s.end(`answer to ${Buffer.concat(parts)}`));
  });
  t.teardown(() => server.close());
  const w = await kernelWorld(t);
  for (const host of [SERVICE_V4, SERVICE_V6]) {
    const r = await scenario(w.ns, 'half-close', host, String(port));
    t.equal(r.answer, 'answer to question', host);
  }
});

t.test('server closes first: the client reads to EOF and can still send', opts, async (t) => {
  const got: Promise<string> = new Promise((resolve) => {
    void listen((s) => {
      s.end('bye');
      const parts: Buffer[] = [];
      s.on('data', (d) => parts.push(d));
      s.on('end', () => resolve(Buffer.concat(parts).toString()));
    }).then(({ server, port }) => {
      t.teardown(() => server.close());
      portReady(port);
    });
  });
  let portReady: (p: number) => void = () => {};
  const port = await new Promise<number>((r) => (portReady = r));
  const w = await kernelWorld(t);
  const r = await scenario(w.ns, 'server-first', SERVICE_V4, String(port));
  t.equal(r.greeting, 'bye');
  t.equal(await got, 'late words', 'the server received what the client sent after EOF');
});

t.test('RST from the application destroys the dialer stream', opts, async (t) => {
  const serverSaw = new Promise<string>((resolve) => {
    void listen((s) => {
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      s.on('end', () => resolve('EOF'));
      s.resume();
    }).then(({ server, port }) => {
      t.teardown(() => server.close());
      ready(port);
    });
  });
  let ready: (p: number) => void = () => {};
  const port = await new Promise<number>((r) => (ready = r));
  const w = await kernelWorld(t);
  const r = await scenario(w.ns, 'client-rst', SERVICE_V4, String(port));
  t.ok(r.reset);
  t.equal(await serverSaw, 'ECONNRESET', 'the server saw a reset, not an orderly close');
  t.ok(w.stack.stats.tcp.resetsReceived >= 1);
});

t.test('RST from the server side resets the application', opts, async (t) => {
  const { server, port } = await listen((s) => s.once('data', () => s.resetAndDestroy()));
  t.teardown(() => server.close());
  const w = await kernelWorld(t);
  const r = await scenario(w.ns, 'expect-rst', SERVICE_V4, String(port));
  t.equal(r.error, 'ECONNRESET');
  t.ok(w.stack.stats.tcp.resetsSent >= 1);
});

t.test('1,000 concurrent connections each transfer 64 KiB both ways', opts, async (t) => {
  const { server, port } = await listen((s) => s.pipe(s));
  t.teardown(() => server.close());
  const w = await kernelWorld(t);
  const r = await scenario(w.ns, 'concurrent', SERVICE_V4, String(port), '1000');
  t.same({ ok: r.ok, bad: r.bad }, { ok: 1000, bad: 0 });
  t.equal(w.stack.stats.tcp.connectionsTotal, 1000);
  t.comment(`1000 connections in ${r.ms} ms`);
});

t.test('idle connections survive', opts, async (t) => {
  const { server, port } = await listen((s) => {
    const parts: Buffer[] = [];
    s.on('data', (d) => parts.push(d));
    s.on('end', () => s.end(`pong ${Buffer.concat(parts).toString().slice(5)}`));
  });
  t.teardown(() => server.close());
  const w = await kernelWorld(t);
  const r = await scenario(w.ns, 'idle', SERVICE_V4, String(port), '3000');
  t.same(
    r.answers,
    Array.from({ length: 20 }, (_, i) => `pong ${i}`),
  );
});

t.test('ping to the stack address is answered (IPv4 and IPv6)', opts, async (t) => {
  const w = await kernelWorld(t);
  const out4 = await w.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '2', STACK_V4]);
  t.match(out4, /2 received/);
  const out6 = await w.ns.exec('ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', STACK_V6]);
  t.match(out6, /2 received/);
  t.equal(w.stack.stats.icmp.echoReplies, 4);
});

t.test('UDP flows: datagrams both ways, IPv4 and IPv6, one flow per 4-tuple', opts, async (t) => {
  const sock = createSocket('udp4');
  sock.on('message', (m, rinfo) => sock.send(Buffer.from(`echo ${m}`), rinfo.port, rinfo.address));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  t.teardown(() => sock.close());
  const port = sock.address().port;
  const w = await kernelWorld(t);
  for (const host of [SERVICE_V4, SERVICE_V6]) {
    const r = await scenario(w.ns, 'udp', host, String(port), '3');
    t.same([...r.got].sort(), ['echo datagram 0', 'echo datagram 1', 'echo datagram 2'], host);
  }
  t.equal(w.stack.stats.udp.flowsTotal, 2);
  t.equal(w.stack.stats.udp.datagramsFromApp, 6);
  t.equal(w.stack.stats.udp.datagramsToApp, 6);
});
