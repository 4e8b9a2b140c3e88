// The daemon's end of the control socket. The socket file is created with
// owner-only permissions (0600, under a 0177 umask so it is never briefly
// wider) and handed to the invoking user when kvpn ran through sudo: that
// user and root can talk to the session, nobody else can.
import { chmodSync, chownSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { KvpnError, systemErrorCode } from '../errors.js';
import {
  type ControlErrorBody,
  type ControlMethod,
  type ControlRequest,
  type ControlResponse,
  LineSplitter,
  parseRequest,
} from './protocol.js';

export const CONTROL_MAX_CLIENTS = 32;

export type ControlHandler = (request: ControlRequest) => Promise<unknown> | unknown;

export interface ControlServerOptions {
  path: string;
  owner?: { uid: number; gid: number } | undefined;
  handlers: Partial<Record<ControlMethod, ControlHandler>>;
}

export class ControlSocketError extends KvpnError {
  constructor(path: string, cause: unknown) {
    super(
      'KVPN_ERR_CONTROL_SOCKET',
      'system',
      `cannot listen on the control socket ${path}: ${(cause as Error).message}`,
      {
        cause,
        remedy: 'Check that the runtime directory (KVPN_RUNTIME_DIR or --runtime-dir) is writable by root.',
      },
    );
  }
}

function errorBody(err: unknown): ControlErrorBody {
  if (err instanceof KvpnError) {
    return {
      code: err.code,
      message: err.message,
      category: err.category,
      ...(err.remedy ? { remedy: err.remedy } : {}),
    };
  }
  return { code: 'KVPN_ERR_INTERNAL', message: (err as Error)?.message ?? String(err), category: 'internal' };
}

export class ControlServer {
  readonly path: string;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #handlers: ControlServerOptions['handlers'];
  #closed = false;

  private constructor(path: string, server: net.Server, handlers: ControlServerOptions['handlers']) {
    this.path = path;
    this.#server = server;
    this.#handlers = handlers;
  }

  static async listen(options: ControlServerOptions): Promise<ControlServer> {
    const server = net.createServer();
    const control = new ControlServer(options.path, server, options.handlers);
    server.maxConnections = CONTROL_MAX_CLIENTS;
    server.on('connection', (socket) => control.#serverOnConnection(socket));
    try {
      mkdirSync(dirname(options.path), { recursive: true, mode: 0o755 });
      await removeStaleSocket(options.path);
      const umask = process.umask(0o177);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(options.path, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } finally {
        process.umask(umask);
      }
      chmodSync(options.path, 0o600);
      if (options.owner) chownSync(options.path, options.owner.uid, options.owner.gid);
    } catch (err) {
      server.close();
      throw new ControlSocketError(options.path, err);
    }
    return control;
  }

  #serverOnConnection(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.setEncoding('utf8');
    const lines = new LineSplitter();
    socket.on('data', (chunk: string) => {
      const complete = lines.push(chunk);
      if (!complete) {
        this.#reply(socket, { id: 0, error: { code: 'KVPN_ERR_CONTROL_PROTOCOL', message: 'request line too long' } });
        socket.end();
        return;
      }
      for (const line of complete) void this.#handle(socket, line);
    });
    socket.on('error', () => {});
    socket.on('close', () => this.#sockets.delete(socket));
  }

  async #handle(socket: net.Socket, line: string): Promise<void> {
    const request = parseRequest(line);
    if (!request) {
      this.#reply(socket, { id: 0, error: { code: 'KVPN_ERR_CONTROL_PROTOCOL', message: 'malformed request' } });
      socket.end();
      return;
    }
    const handler = this.#handlers[request.method];
    if (!handler) {
      this.#reply(socket, {
        id: request.id,
        error: { code: 'KVPN_ERR_CONTROL_PROTOCOL', message: `unknown method "${request.method}"` },
      });
      return;
    }
    try {
      this.#reply(socket, { id: request.id, result: (await handler(request)) ?? null });
    } catch (err) {
      this.#reply(socket, { id: request.id, error: errorBody(err) });
    }
  }

  #reply(socket: net.Socket, response: ControlResponse): void {
    if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
  }

  /** Stops listening, ends open connections after their pending replies, removes the socket file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.end();
    const timer = setTimeout(() => {
      for (const socket of this.#sockets) socket.destroy();
    }, 1000);
    await closed;
    clearTimeout(timer);
    try {
      unlinkSync(this.path);
    } catch {}
  }
}

/** A socket file nobody answers on is left over from a crash: remove it. */
async function removeStaleSocket(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    throw Object.assign(new Error(`another process is listening on ${path}`), { code: 'EADDRINUSE' });
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if (systemErrorCode(err) !== 'ENOENT') throw err;
  }
}
