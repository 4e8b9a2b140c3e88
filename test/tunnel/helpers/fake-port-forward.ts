// A minimal stand-in for the API server's port-forward endpoint, for unit
// tests that run before (or without) test/cluster: it speaks
// v4.channel.k8s.io like the kubelet (port header on both channels, data on
// channel 0, the dial error as text on channel 1, then close) and forwards
// to 127.0.0.1:<port> on this machine. Pods are just names here.
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type WebSocket, WebSocketServer } from 'ws';

export interface FakePortForwardOptions {
  token?: string;
  /** Pods that exist; a port-forward to any other pod is a 404 like the API's. */
  pods?: string[];
  /** Answer 403 like RBAC does when this is true. */
  forbid?: boolean;
}

export interface FakePortForward {
  url: string;
  kubeconfig: string;
  pods: Set<string>;
  /** Open port-forward WebSockets (server side). */
  sockets: Set<WebSocket>;
  /** Count of port-forwards made so far. */
  opened: number;
  forbid: boolean;
  /** Drops every open port-forward abruptly (TCP reset of the WebSocket). */
  cutAll(): void;
  close(): Promise<void>;
}

function status(
  res: http.ServerResponse | import('node:stream').Duplex,
  code: number,
  reason: string,
  message: string,
): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code });
  const head = `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  if (res instanceof http.ServerResponse) {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(body);
  } else res.end(head + body);
}

export async function startFakePortForward(opts: FakePortForwardOptions = {}): Promise<FakePortForward> {
  const token = opts.token ?? 'test-token';
  const server = http.createServer((_req, res) => status(res, 404, 'NotFound', 'not found'));
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false),
  });
  const state: FakePortForward = {
    url: '',
    kubeconfig: '',
    pods: new Set(opts.pods ?? ['relay']),
    sockets: new Set(),
    opened: 0,
    forbid: opts.forbid ?? false,
    cutAll() {
      for (const ws of state.sockets) ws.terminate();
    },
    async close() {
      state.cutAll();
      wss.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
    if (req.headers.authorization !== `Bearer ${token}`) return status(socket, 401, 'Unauthorized', 'Unauthorized');
    if (!m) return status(socket, 404, 'NotFound', 'the server could not find the requested resource');
    if (state.forbid) {
      return status(
        socket,
        403,
        'Forbidden',
        `pods "${m[2]}" is forbidden: User "dev" cannot create resource "pods/portforward" in API group "" in the namespace "${m[1]}"`,
      );
    }
    if (!state.pods.has(m[2] ?? '')) return status(socket, 404, 'NotFound', `pods "${m[2]}" not found`);
    const port = Number(url.searchParams.get('ports'));
    wss.handleUpgrade(req, socket, head, (ws) => {
      state.opened++;
      state.sockets.add(ws);
      ws.on('close', () => state.sockets.delete(ws));
      const portHeader = (channel: number) => Buffer.from([channel, port & 0xff, port >> 8]);
      ws.send(portHeader(0));
      ws.send(portHeader(1));
      const target = net.connect(port, '127.0.0.1');
      let connected = false;
      target.on('connect', () => {
        connected = true;
      });
      target.on('data', (chunk: Buffer) => {
        ws.send(Buffer.concat([Buffer.from([0]), chunk]), (err) => err && target.destroy());
        if (ws.bufferedAmount > 1024 * 1024) {
          target.pause();
          const poll = setInterval(() => {
            if (ws.bufferedAmount < 256 * 1024 || ws.readyState !== ws.OPEN) {
              clearInterval(poll);
              target.resume();
            }
          }, 1);
        }
      });
      target.on('error', () => {
        if (!connected) {
          ws.send(
            Buffer.concat([
              Buffer.from([1]),
              Buffer.from(
                `error forwarding port ${port} to pod ${m[2]}, uid : failed to connect to localhost:${port} inside namespace "${m[2]}", IPv4: dial tcp4 127.0.0.1:${port}: connect: connection refused`,
              ),
            ]),
          );
        }
        ws.close(1000);
      });
      target.on('close', () => ws.readyState === ws.OPEN && ws.close(1000));
      ws.on('message', (data: Buffer) => {
        if (data[0] !== 0) return;
        if (!target.write(data.subarray(1))) {
          ws.pause();
          target.once('drain', () => ws.resume());
        }
      });
      ws.on('close', () => target.destroy());
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-pf-'));
  state.kubeconfig = join(dir, 'config');
  writeFileSync(
    state.kubeconfig,
    `apiVersion: v1
kind: Config
current-context: test
clusters:
- name: c
  cluster:
    server: ${state.url}
    insecure-skip-tls-verify: true
users:
- name: u
  user:
    token: ${token}
contexts:
- name: test
  context:
    cluster: c
    user: u
    namespace: ns1
`,
  );
  return state;
}
