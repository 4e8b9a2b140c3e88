// Servers on loopback in the test process, reached through the stack.
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';

export interface TransferResult {
  receivedBytes: number;
  received: string;
  sent: string;
  sentBytes: number;
}

/** The same xorshift stream as clients/transfer-client.mjs. */
export function* pseudoRandomChunks(total: number, seedValue: number, chunkSize = 256 * 1024): Generator<Buffer> {
  let seed = seedValue >>> 0 || 1;
  let left = total;
  while (left > 0) {
    const buf = Buffer.alloc(chunkSize);
    for (let i = 0; i < buf.length; i += 4) {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      buf.writeUInt32LE(seed >>> 0, i);
    }
    const n = Math.min(left, chunkSize);
    left -= n;
    yield n === chunkSize ? buf : buf.subarray(0, n);
  }
}

/**
 * Per connection: sends `replyBytes` pseudo-random bytes (honouring
 * backpressure) while hashing what arrives; ends its side once it has sent
 * everything and read the client's FIN.
 */
export async function transferServer(
  replyBytes: number,
  seed = 7,
): Promise<{
  server: Server;
  port: number;
  results: TransferResult[];
  next(): Promise<TransferResult>;
  close(): Promise<void>;
}> {
  const results: TransferResult[] = [];
  const waiters: ((r: TransferResult) => void)[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const recvHash = createHash('sha256');
    const sentHash = createHash('sha256');
    let receivedBytes = 0;
    let readDone = false;
    let writeDone = false;
    const finish = () => {
      if (!readDone || !writeDone) return;
      socket.end();
      const r = {
        receivedBytes,
        received: recvHash.digest('hex'),
        sent: sentHash.digest('hex'),
        sentBytes: replyBytes,
      };
      results.push(r);
      waiters.shift()?.(r);
    };
    socket.on('data', (d) => {
      recvHash.update(d);
      receivedBytes += d.length;
    });
    socket.on('end', () => {
      readDone = true;
      finish();
    });
    const chunks = pseudoRandomChunks(replyBytes, seed);
    const pump = () => {
      for (;;) {
        const c = chunks.next();
        if (c.done) {
          writeDone = true;
          finish();
          return;
        }
        sentHash.update(c.value);
        if (!socket.write(c.value)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    results,
    next: () => new Promise((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Runs a command and collects stdout (the process is killed at teardown by the namespace). */
export function collect(
  child: import('node:child_process').ChildProcess,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
