// A userspace delay line for TCP (this kernel has no netem): accepts on its
// own port, dials the target from a fixed source address (so the redirect
// rule that sends clients here does not catch it again), and holds every
// chunk for `delayMs` in each direction, in order, with bounded buffering.
import net from 'node:net';

const QUEUE_LIMIT_BYTES = 8 * 1024 * 1024;

function delayLine(from: net.Socket, to: net.Socket, delay: () => number): void {
  const queue: { due: number; data: Buffer }[] = [];
  let queued = 0;
  let _timer: NodeJS.Timeout | undefined;
  let ended = false;
  const flush = (): void => {
    _timer = undefined;
    const now = Date.now();
    while (queue.length && (queue[0]?.due ?? 0) <= now) {
      const item = queue.shift() as { due: number; data: Buffer };
      queued -= item.data.length;
      to.write(item.data);
    }
    if (queued < QUEUE_LIMIT_BYTES / 2 && from.isPaused()) from.resume();
    if (queue.length) _timer = setTimeout(flush, Math.max(0, (queue[0]?.due ?? now) - now));
    else if (ended) to.end();
  };
  from.on('data', (data: Buffer) => {
    queue.push({ due: Date.now() + delay(), data });
    queued += data.length;
    if (queued > QUEUE_LIMIT_BYTES) from.pause();
    _timer ??= setTimeout(flush, delay());
  });
  from.on('end', () => {
    ended = true;
    _timer ??= setTimeout(flush, delay());
  });
}

export class DelayProxy {
  #server: net.Server | undefined;
  #sockets = new Set<net.Socket>();
  #oneWayMs = 0;
  port = 0;

  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
    readonly sourceAddress: string,
  ) {}

  /** Round-trip latency added: half each way. */
  set latencyMs(ms: number) {
    this.#oneWayMs = ms / 2;
  }

  async start(): Promise<number> {
    const server = net.createServer({ allowHalfOpen: true }, (client) => {
      const upstream = net.connect({
        host: this.targetHost,
        port: this.targetPort,
        localAddress: this.sourceAddress,
        allowHalfOpen: true,
      });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      const d = (): number => this.#oneWayMs;
      delayLine(client, upstream, d);
      delayLine(upstream, client, d);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  close(): void {
    this.#server?.close();
    for (const s of this.#sockets) s.destroy();
  }
}
