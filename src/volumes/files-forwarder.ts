// The laptop end of a mount's file server: sshfs connects here
// (`-o directport=`), each connection becomes one port-forward to the file
// server on the pod's loopback, which first gets the token line and answers
// "OK" before the bytes are SFTP.
//
//   sshfs ─TCP 127.0.0.1:P─► forwarder ─port-forward─► pod 127.0.0.1:PORT (file server)
//                               "KVPN-FILES 1 <token>\n" ─►  ◄─ "OK\n"
import { createServer, type Server, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import type { KubeClient } from '../kube/client.js';
import { openPortForward, type PortForwardStream } from '../kube/port-forward.js';
import { mountError } from './errors.js';
import { socketOwner } from './socket-owner-linux.js';

export const FILES_PREAMBLE_VERSION = 1;
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** How long a just-started file server gets to listen. */
const FIRST_STREAM_MS = 10_000;
const MAX_REPLY_BYTES = 1024;

export interface FilesTarget {
  namespace: string;
  pod: string;
  port: number;
  token: string;
}

export interface ForwarderCounters {
  connections: number;
  /** Connections from a process not root's, refused. */
  refused: number;
  open: number;
  failed: number;
  lastError?: string;
}

/** One port-forward to the file server, past the token check; rejects with the server's reason. */
export async function openFilesStream(client: KubeClient, target: FilesTarget): Promise<PortForwardStream> {
  const stream = await openPortForward(client, { namespace: target.namespace, pod: target.pod, port: target.port });
  try {
    const { reply, rest } = await handshake(stream, target.token);
    if (reply !== 'OK') throw new Error(`the file server refused the session: ${reply}`);
    if (rest.length) stream.unshift(rest);
    return stream;
  } catch (err) {
    stream.destroy();
    throw err;
  }
}

function handshake(stream: PortForwardStream, token: string): Promise<{ reply: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error('the file server did not answer')), HANDSHAKE_TIMEOUT_MS);
    const done = (err?: Error, value?: { reply: string; rest: Buffer }): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('error', onError);
      stream.off('end', onEnd);
      if (err) reject(err);
      else resolve(value as { reply: string; rest: Buffer });
    };
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      const nl = got.indexOf(10);
      if (nl >= 0) {
        stream.pause();
        done(undefined, { reply: got.subarray(0, nl).toString('utf8'), rest: got.subarray(nl + 1) });
      } else if (got.length > MAX_REPLY_BYTES) done(new Error('the file server answered garbage'));
    };
    const onError = (err: Error): void => done(err);
    const onEnd = (): void => done(new Error('the file server closed the connection (is it still running?)'));
    stream.on('data', onData);
    stream.on('error', onError);
    stream.on('end', onEnd);
    stream.write(`KVPN-FILES ${FILES_PREAMBLE_VERSION} ${token}\n`);
  });
}

export class FilesForwarder {
  readonly counters: ForwarderCounters = { connections: 0, refused: 0, open: 0, failed: 0 };
  readonly #server: Server;
  readonly #client: KubeClient;
  readonly #target: FilesTarget;
  readonly #sockets = new Set<Socket>();

  private constructor(client: KubeClient, target: FilesTarget, server: Server) {
    this.#client = client;
    this.#target = target;
    this.#server = server;
    server.on('connection', (socket) => this.#accept(socket));
  }

  /**
   * Listens on 127.0.0.1 (an ephemeral port) once one stream proved the server answers (a running
   * container may not listen yet: tried for a while). Only root's sockets are served: sshfs runs as
   * root, and any other local user would otherwise get the pod's files through this port.
   */
  static async listen(client: KubeClient, target: FilesTarget): Promise<FilesForwarder> {
    const deadline = Date.now() + FIRST_STREAM_MS;
    for (;;) {
      try {
        (await openFilesStream(client, target)).destroy();
        break;
      } catch (err) {
        if (Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          continue;
        }
        throw mountError(
          'KVPN_ERR_MOUNT_FILE_SERVER',
          `cannot reach kvpn's file server in pod ${target.pod}: ${(err as Error).message}`,
          'Check `kvpn status`; `kvpn unmount` then `kvpn mount` again starts a new one.',
        );
      }
    }
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const forwarder = new FilesForwarder(client, target, server);
    // Accept errors (EMFILE) must not end the daemon.
    server.on('error', (err) => {
      forwarder.counters.failed++;
      forwarder.counters.lastError = err.message;
    });
    return forwarder;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  #accept(socket: Socket): void {
    if (socketOwner(socket) !== 0) {
      this.counters.refused++;
      socket.destroy();
      return;
    }
    this.counters.connections++;
    this.counters.open++;
    this.#sockets.add(socket);
    socket.pause();
    socket.on('error', () => {});
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.counters.open--;
    });
    openFilesStream(this.#client, this.#target).then(
      (stream) => {
        if (socket.destroyed) return void stream.destroy();
        // Either side ending ends both: SFTP has no half-close.
        pipeline(socket, stream, () => socket.destroy());
        pipeline(stream, socket, () => stream.destroy());
      },
      (err: Error) => {
        this.counters.failed++;
        this.counters.lastError = err.message;
        socket.destroy();
      },
    );
  }

  close(): void {
    this.#server.close();
    for (const s of this.#sockets) s.destroy();
  }
}
