// Parent side of programs/agent.ts: a small Node process living in another
// network namespace that opens sockets there and passes them back.
import { type ChildProcess, spawn } from 'node:child_process';
import type { Server, Socket } from 'node:net';

export class NetnsAgentError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

interface Reply {
  id: number;
  ok: boolean;
  code?: string;
  message?: string;
  port?: number;
}

export class NetnsAgent {
  readonly netnsPath: string;
  #child: ChildProcess;
  #nextId = 1;
  #pending = new Map<number, { resolve: (v: { reply: Reply; handle: unknown }) => void; reject: (e: Error) => void }>();
  #closed = false;

  constructor(netnsPath: string, agentScript: string) {
    this.netnsPath = netnsPath;
    this.#child = spawn('nsenter', [`--net=${netnsPath}`, process.execPath, agentScript], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.#child.on('message', (reply: Reply, handle: unknown) => {
      const p = this.#pending.get(reply.id);
      if (!p) {
        (handle as Socket | undefined)?.destroy?.();
        return;
      }
      this.#pending.delete(reply.id);
      p.resolve({ reply, handle });
    });
    this.#child.on('exit', () => this.#failAll('agent exited'));
    this.#child.on('error', (err) => this.#failAll(err.message));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  #failAll(message: string): void {
    this.#closed = true;
    for (const p of this.#pending.values()) p.reject(new NetnsAgentError(message, 'EAGENT'));
    this.#pending.clear();
  }

  #request(
    op: 'connect' | 'listen',
    host: string,
    port: number,
    timeoutMs?: number,
  ): Promise<{ reply: Reply; handle: unknown }> {
    if (this.#closed) return Promise.reject(new NetnsAgentError('agent is closed', 'EAGENT'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ id, op, host, port, timeoutMs });
    });
  }

  /** A TCP connection opened inside the namespace. */
  async connect(host: string, port: number, timeoutMs?: number): Promise<Socket> {
    const { reply, handle } = await this.#request('connect', host, port, timeoutMs);
    if (!reply.ok || !handle) throw new NetnsAgentError(reply.message ?? 'connect failed', reply.code);
    return handle as Socket;
  }

  /** A listening TCP server bound inside the namespace. */
  async listen(host: string, port = 0): Promise<Server> {
    const { reply, handle } = await this.#request('listen', host, port);
    if (!reply.ok || !handle) throw new NetnsAgentError(reply.message ?? 'listen failed', reply.code);
    return handle as Server;
  }

  close(): void {
    if (this.#closed && this.#child.exitCode !== null) return;
    this.#closed = true;
    this.#child.kill('SIGKILL');
  }
}
