// Runs inside one network namespace (started with `nsenter --net=…`) and
// hands sockets opened there to its parent over the IPC channel: the
// kubelet uses it to reach a pod's 127.0.0.1 for port-forward and pod IPs for
// probes; tests use one in the laptop namespace to reach the API server.
// Protocol: {id, op: 'connect', host, port} → {id, ok} + socket handle, or
// {id, ok: false, code, message}; {id, op: 'listen', host, port} → server handle.
import { connect, createServer } from 'node:net';

interface Request {
  id: number;
  op: 'connect' | 'listen';
  host: string;
  port: number;
  timeoutMs?: number;
}

function reply(msg: object, handle?: import('node:net').Socket | import('node:net').Server): void {
  if (!process.connected) return;
  if (handle) process.send?.(msg, handle as never, { keepOpen: false });
  else process.send?.(msg);
}

process.on('message', (m: Request) => {
  if (m.op === 'connect') {
    const s = connect({ host: m.host, port: m.port });
    const timer = setTimeout(() => {
      s.destroy();
      reply({ id: m.id, ok: false, code: 'ETIMEDOUT', message: `dial tcp4 ${m.host}:${m.port}: i/o timeout` });
    }, m.timeoutMs ?? 10_000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.pause();
      reply({ id: m.id, ok: true }, s);
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const reason = err.code === 'ECONNREFUSED' ? 'connect: connection refused' : err.message;
      reply({ id: m.id, ok: false, code: err.code, message: `dial tcp4 ${m.host}:${m.port}: ${reason}` });
    });
  } else if (m.op === 'listen') {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      reply({ id: m.id, ok: false, code: err.code, message: err.message }),
    );
    server.listen(m.port, m.host, () => {
      const port = (server.address() as { port: number }).port;
      // Only the parent accepts from now on.
      process.send?.({ id: m.id, ok: true, port }, server as never, () => server.close());
    });
  }
});

process.on('disconnect', () => process.exit(0));
