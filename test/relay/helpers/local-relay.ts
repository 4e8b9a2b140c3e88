// An in-process relay on 127.0.0.1 and a transport that reaches it over a
// plain local socket: the tunnel without Kubernetes, for unit tests.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { type RelayConfig, relayConfigFromEnv } from '../../../src/relay/server/config.js';
import { RelayLog } from '../../../src/relay/server/log.js';
import { RelayServer } from '../../../src/relay/server/server.js';
import type { TunnelTransport } from '../../../src/tunnel/transport.js';

export interface LocalRelay {
  server: RelayServer;
  port: number;
  token: string;
  logs: Record<string, unknown>[];
  /** Client-side sockets the transport opened (to cut them in tests). */
  sockets: Set<net.Socket>;
  transport: TunnelTransport & { connects: number };
}

export async function startLocalRelay(
  t: { teardown(fn: () => unknown): void },
  overrides: Partial<RelayConfig> = {},
): Promise<LocalRelay> {
  const token = randomBytes(16).toString('hex');
  const base = relayConfigFromEnv({ KVPN_RELAY_TOKEN: token });
  if ('errors' in base) throw new Error(base.errors.join('; '));
  const logs: Record<string, unknown>[] = [];
  const log = new RelayLog('debug', (line) => logs.push(JSON.parse(line)));
  const server = new RelayServer({ ...base, port: 0, idleExitMs: 0, ...overrides }, log);
  const { port } = await server.listen();
  const sockets = new Set<net.Socket>();
  const transport = {
    token,
    connects: 0,
    async connect(): Promise<Duplex> {
      transport.connects++;
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      return socket;
    },
    describe: () => `local relay 127.0.0.1:${port}`,
  };
  t.teardown(() => server.destroy());
  return { server, port, token, logs, sockets, transport };
}
