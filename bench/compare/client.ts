// The load client of `npm run bench -- compare`, run as its own process
// inside the laptop namespace (so it resolves names with the laptop's
// resolv.conf and shares no event loop with the orchestrator). One mode per
// run; the result is one line `RESULT {json}` on stdout.
//
//   --mode connect --host H --port P --count N
//       N connections one after another: (name lookup,) connect, send one
//       byte, receive its echo, close. Per-connection time, p50/p99; and
//       its two halves: the handshake (`connect` event) and the first byte.
//   --mode pingpong --host H --port P --count N
//       One connection, then N one-byte echoes one after another: the round
//       trip of an open connection (what each request on it pays), p50/p99.
//   --mode http --host H --port P --connections C --seconds S
//       C keep-alive connections, each sending `GET /` as soon as the last
//       answer arrived, for S seconds after a warm-up. Requests/s, latency.
//       --also H2:P2 (repeatable) spreads the connections over more targets.
//   --mode hold --host H --port P --count N --concurrency K --hold-ms MS
//       N connections open at once (at most K handshakes in flight), each
//       proven by a one-byte echo; prints `HELD {json}` when all attempts
//       settled, holds them MS, echoes one byte on each again (alive),
//       then closes them all.
//   connect and hold start no new connection after --deadline-ms (counted as failed).
//
// Targets are echo servers (test/cluster/programs/echo.ts): the TCP echo
// port for connect and hold, the HTTP port for http.
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    host: { type: 'string' },
    also: { type: 'string', multiple: true, default: [] },
    port: { type: 'string' },
    count: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '200' },
    'hold-ms': { type: 'string', default: '3000' },
    'timeout-ms': { type: 'string', default: '10000' },
    /** connect and hold: start no new connection after this long. */
    'deadline-ms': { type: 'string', default: '120000' },
  },
});
const host = values.host ?? '';
const port = Number(values.port);
const timeoutMs = Number(values['timeout-ms']);
const ALIVE_CHECK_TIMEOUT_MS = 5000;
const deadline = performance.now() + Number(values['deadline-ms']);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

function summary(samples: number[]): Record<string, number> {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return {
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    meanMs: mean,
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** When an echoed connection's handshake completed (performance.now()). */
const connectedAt = new WeakMap<net.Socket, number>();

/** Connects (resolving `host` if it is a name) and waits for the echo of one byte. */
function openEchoed(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => fail(new Error('timeout')), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      connectedAt.set(socket, performance.now());
      socket.write('x');
    });
    socket.once('data', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('close', () => fail(new Error('closed before the echo')));
  });
}

async function connectMode(): Promise<Record<string, unknown>> {
  const count = Number(values.count);
  const samples: number[] = [];
  const handshakes: number[] = [];
  const firstBytes: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    if (performance.now() > deadline) {
      failed += count - i;
      firstError ??= 'deadline passed';
      break;
    }
    const start = performance.now();
    try {
      const socket = await openEchoed();
      const end = performance.now();
      const connected = connectedAt.get(socket) ?? end;
      samples.push(end - start);
      handshakes.push(connected - start);
      firstBytes.push(end - connected);
      socket.removeAllListeners('close');
      socket.end();
    } catch (err) {
      failed++;
      firstError ??= (err as Error).message;
    }
  }
  return {
    count,
    ok: samples.length,
    failed,
    firstError,
    totalMs: performance.now() - t0,
    ...summary(samples),
    handshake: summary(handshakes),
    firstByte: summary(firstBytes),
  };
}

/** One echo of one byte on an open connection. */
function echoOnce(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('timeout')), timeoutMs);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onData = (): void => done();
    const onClose = (): void => done(new Error('closed during an echo'));
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write('x');
  });
}

async function pingpongMode(): Promise<Record<string, unknown>> {
  const count = Number(values.count);
  const socket = await openEchoed();
  const samples: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  try {
    for (let i = 0; i < count && failed === 0; i++) {
      const start = performance.now();
      try {
        await echoOnce(socket);
        samples.push(performance.now() - start);
      } catch (err) {
        failed = count - i;
        firstError = (err as Error).message;
      }
    }
  } finally {
    socket.destroy();
  }
  return { count, ok: samples.length, failed, firstError, ...summary(samples) };
}

async function httpMode(): Promise<Record<string, unknown>> {
  const connections = Number(values.connections);
  const seconds = Number(values.seconds);
  const warmupMs = 500;
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: kvpn-bench\r\n\r\n`);
  const latencies: number[] = [];
  let counted = 0;
  let errors = 0;
  let measuring = false;
  let stopped = false;
  const targets: { host: string; port: number }[] = [{ host, port }];
  for (const a of values.also) {
    const [h = '', p = ''] = a.split(':');
    targets.push({ host: h, port: Number(p) });
  }
  const loops = Array.from({ length: connections }, async (_, i) => {
    const socket = net.connect({ ...(targets[i % targets.length] as { host: string; port: number }), noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new Promise<void>((resolve) => {
      let buffered: Buffer = Buffer.alloc(0);
      let sentAt = 0;
      const send = (): void => {
        if (stopped) {
          socket.destroy();
          resolve();
          return;
        }
        sentAt = performance.now();
        socket.write(request);
      };
      socket.on('error', () => {
        errors++;
        resolve();
      });
      socket.on('close', () => resolve());
      socket.on('data', (chunk: Buffer) => {
        buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffered.toString('latin1', 0, end);
          const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
          if (buffered.length < end + 4 + length) return;
          buffered = buffered.subarray(end + 4 + length);
          if (!head.startsWith('HTTP/1.1 200')) errors++;
          if (measuring) {
            counted++;
            latencies.push(performance.now() - sentAt);
          }
          send();
        }
      });
      send();
    });
  });
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  stopped = true;
  await Promise.allSettled(loops);
  return { connections, seconds: elapsed, requests: counted, rps: counted / elapsed, errors, ...summary(latencies) };
}

async function holdMode(): Promise<Record<string, unknown>> {
  const count = Number(values.count);
  const concurrency = Number(values.concurrency);
  const holdMs = Number(values['hold-ms']);
  const open: net.Socket[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      if (performance.now() > deadline) {
        failed++;
        firstError ??= 'deadline passed';
        continue;
      }
      try {
        open.push(await openEchoed());
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const openSeconds = (performance.now() - t0) / 1000;
  process.stdout.write(`HELD ${JSON.stringify({ opened: open.length, failed, openSeconds })}\n`);
  await new Promise((r) => setTimeout(r, holdMs));
  // Still alive after the hold? One more echo on every connection (all at once, so 5 s is plenty).
  const results = await Promise.all(
    open.map(
      (socket) =>
        new Promise<boolean>((resolve) => {
          if (socket.destroyed) return resolve(false);
          const timer = setTimeout(() => resolve(false), ALIVE_CHECK_TIMEOUT_MS);
          socket.once('data', () => {
            clearTimeout(timer);
            resolve(true);
          });
          socket.once('close', () => {
            clearTimeout(timer);
            resolve(false);
          });
          socket.write('y');
        }),
    ),
  );
  const alive = results.filter(Boolean).length;
  for (const s of open) s.destroy();
  return { count, opened: open.length, failed, firstError, alive, openSeconds };
}

const modes: Record<string, () => Promise<Record<string, unknown>>> = {
  connect: connectMode,
  pingpong: pingpongMode,
  http: httpMode,
  hold: holdMode,
};
const mode = modes[values.mode ?? ''];
if (!mode || !host || !port) {
  process.stderr.write(
    'usage: bench/compare/client.ts --mode connect|pingpong|http|hold --host H --port P [options]\n',
  );
  process.exit(2);
}
const result = await mode();
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exit(0);
