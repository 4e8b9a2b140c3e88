// Port-forward over WebSocket, framed as the kubelet frames it for the
// v4.channel.k8s.io subprotocol: each message starts with a channel byte;
// for the i-th requested port, channel 2i carries data and 2i+1 errors; the
// first message the server sends on each channel is the port, 2 bytes
// little-endian. Errors reach the client as text on the error channel.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

export const PORT_FORWARD_PROTOCOLS = ['v4.channel.k8s.io'];
const WS_HIGH_WATER_BYTES = 4 * 1024 * 1024;

export type PodDialer = (port: number) => Promise<Socket>;

export class PortForwardServer {
  #wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
    handleProtocols: (protocols) => PORT_FORWARD_PROTOCOLS.find((p) => protocols.has(p)) ?? false,
  });
  #open = new Set<{ ws: WebSocket; sockets: Socket[] }>();

  get openCount(): number {
    return this.#open.size;
  }

  upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    ports: number[],
    podLabel: string,
    dial: PodDialer,
  ): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#serve(ws, ports, podLabel, dial));
  }

  #serve(ws: WebSocket, ports: number[], podLabel: string, dial: PodDialer): void {
    const entry = { ws, sockets: [] as Socket[] };
    this.#open.add(entry);
    const portHeader = (port: number, channel: number): Buffer => {
      const b = Buffer.alloc(3);
      b[0] = channel;
      b.writeUInt16LE(port, 1);
      return b;
    };
    const closeAll = (): void => {
      this.#open.delete(entry);
      for (const s of entry.sockets) s.destroy();
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
    };
    const sockets = new Map<number, Socket>();
    const pending = new Map<number, Buffer[]>();

    ports.forEach((port, i) => {
      ws.send(portHeader(port, 2 * i));
      ws.send(portHeader(port, 2 * i + 1));
      pending.set(i, []);
      dial(port).then(
        (s) => {
          if (!this.#open.has(entry)) {
            s.destroy();
            return;
          }
          // As the kubelet's (Go's) connections: no Nagle, or a small frame written while
          // another is unacknowledged waits for the pod's delayed ACK (~40 ms).
          s.setNoDelay(true);
          entry.sockets.push(s);
          sockets.set(i, s);
          for (const chunk of pending.get(i) ?? []) s.write(chunk);
          pending.delete(i);
          if (ws.isPaused) ws.resume();
          let paused = false;
          const sent = (): void => {
            if (paused && ws.bufferedAmount <= WS_HIGH_WATER_BYTES / 2) {
              paused = false;
              s.resume();
            }
          };
          s.on('data', (d: Buffer) => {
            // The WebSocket is closing: nothing more can reach the client, so
            // the pod connections end now rather than being drained to nowhere.
            if (ws.readyState !== ws.OPEN) return closeAll();
            ws.send(Buffer.concat([Buffer.from([2 * i]), d]), { binary: true }, sent);
            if (ws.bufferedAmount > WS_HIGH_WATER_BYTES) {
              paused = true;
              s.pause();
            }
          });
          s.on('drain', () => ws.resume());
          s.on('error', (err) => {
            ws.send(
              Buffer.concat([
                Buffer.from([2 * i + 1]),
                Buffer.from(`error forwarding port ${port} to pod ${podLabel}: ${err.message}`),
              ]),
            );
          });
          s.on('close', closeAll);
        },
        (err: Error) => {
          if (ws.readyState !== ws.OPEN) return;
          const msg = `error forwarding port ${port} to pod ${podLabel}, uid : failed to execute portforward in network namespace: failed to connect to localhost:${port} inside namespace "${podLabel}", IPv4: ${err.message} IPv6 dial tcp6 [::1]:${port}: connect: cannot assign requested address `;
          ws.send(Buffer.concat([Buffer.from([2 * i + 1]), Buffer.from(msg)]), () => closeAll());
        },
      );
    });

    ws.on('message', (data: Buffer, isBinary) => {
      const buf = isBinary ? data : Buffer.from(data);
      if (buf.length < 1) return;
      const channel = buf[0] ?? 0;
      const i = channel >> 1;
      if (channel % 2 === 1 || i >= ports.length) return;
      const payload = buf.subarray(1);
      if (payload.length === 0) return;
      const s = sockets.get(i);
      if (!s) {
        // Bytes that arrive before the pod connection is up wait, bounded.
        const queue = pending.get(i);
        queue?.push(Buffer.from(payload));
        if (queue && queue.reduce((n, b) => n + b.length, 0) > WS_HIGH_WATER_BYTES) ws.pause();
        return;
      }
      if (!s.write(payload)) ws.pause();
    });
    ws.on('close', closeAll);
    ws.on('error', closeAll);
  }

  /** Fault: drop every open port-forward at once (TCP reset, no close frame). */
  cutAll(): number {
    const n = this.#open.size;
    for (const e of [...this.#open]) {
      this.#open.delete(e);
      for (const s of e.sockets) s.destroy();
      e.ws.terminate();
    }
    return n;
  }
}
