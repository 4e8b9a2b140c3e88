// The listener and the process's lifetime:
//
//   listen on 127.0.0.1:PORT ─► FilesConnection per socket
//   timer START: no authenticated connection within startMs ─► onExit
//   timer IDLE:  no authenticated connection open for idleMs ─► onExit
//
// An ephemeral container cannot be deleted, so its process must end by
// itself once the laptop unmounted or vanished.
import net from 'node:net';
import type { FilesConfig } from './config.js';
import { type ConnectionSummary, FilesConnection } from './connection.js';
import type { FilesLog } from './log.js';

type Timer = { kind: 'none' } | { kind: 'start' | 'idle'; handle: NodeJS.Timeout };

export interface FilesServerOptions {
  /** Overrides the 10 s preamble limit (tests). */
  preambleTimeoutMs?: number;
}

export class FilesServer {
  readonly #config: FilesConfig;
  readonly #log: FilesLog;
  readonly #onExit: (reason: string) => void;
  readonly #options: FilesServerOptions;
  readonly #server: net.Server;
  readonly #connections = new Set<FilesConnection>();
  #open = 0;
  #total = 0;
  #timer: Timer = { kind: 'none' };
  #exited = false;

  constructor(config: FilesConfig, log: FilesLog, onExit: (reason: string) => void, options: FilesServerOptions = {}) {
    this.#config = config;
    this.#log = log;
    this.#onExit = onExit;
    this.#options = options;
    this.#server = net.createServer((socket) => this.#serverOnConnection(socket));
  }

  /** Authenticated connections open now. */
  get openConnections(): number {
    return this.#open;
  }

  /** Listens on 127.0.0.1 and starts the START timer; resolves with the port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#config.port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        const address = this.#server.address() as net.AddressInfo;
        this.#log.info('listening', { port: address.port, root: this.#config.root });
        this.#arm('start', this.#config.startMs);
        resolve(address.port);
      });
    });
  }

  /** Closes the listener and every connection now. Idempotent. */
  destroy(): void {
    this.#exited = true;
    this.#disarm();
    this.#server.close();
    for (const c of this.#connections) c.destroy();
  }

  #arm(kind: 'start' | 'idle', ms: number): void {
    this.#disarm();
    const handle = setTimeout(() => this.#timerOnFire(kind), ms);
    this.#timer = { kind, handle };
  }

  #disarm(): void {
    if (this.#timer.kind !== 'none') clearTimeout(this.#timer.handle);
    this.#timer = { kind: 'none' };
  }

  #timerOnFire(kind: 'start' | 'idle'): void {
    this.#timer = { kind: 'none' };
    const reason =
      kind === 'start'
        ? `no connection within ${this.#config.startMs} ms of start`
        : `no connection open for ${this.#config.idleMs} ms`;
    this.destroy();
    this.#onExit(reason);
  }

  #serverOnConnection(socket: net.Socket): void {
    if (this.#exited) {
      socket.destroy();
      return;
    }
    const id = ++this.#total;
    const connection = new FilesConnection(
      socket,
      {
        tokenDigest: this.#config.tokenDigest,
        root: this.#config.root,
        log: this.#log,
        id,
        ...(this.#options.preambleTimeoutMs === undefined
          ? {}
          : { preambleTimeoutMs: this.#options.preambleTimeoutMs }),
      },
      {
        onAuthenticated: () => {
          this.#open++;
          this.#disarm();
          this.#log.info('connection opened', { conn: id, open: this.#open, total: this.#total });
        },
        onClosed: (summary: ConnectionSummary) => {
          this.#connections.delete(connection);
          if (!summary.authenticated) return;
          this.#open--;
          this.#log.info('connection closed', {
            conn: id,
            open: this.#open,
            requests: summary.requests,
            handles: summary.handles,
          });
          if (this.#open === 0 && !this.#exited) this.#arm('idle', this.#config.idleMs);
        },
      },
    );
    this.#connections.add(connection);
  }
}
