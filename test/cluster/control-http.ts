// The control socket's HTTP plumbing, shared by both worlds: JSON request
// bodies, and a server on a unix socket whose handler's errors become a
// JSON {"error"} with the status the world's error carries.
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export async function listenControl(
  path: string,
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  statusOf: (err: unknown) => number,
): Promise<Server> {
  await rm(path, { force: true });
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(statusOf(err), { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: String((err as Error)?.message ?? err) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

export function closeControl(server: Server | undefined): void {
  server?.close();
  server?.closeAllConnections();
}
