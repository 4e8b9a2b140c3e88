// The test world's API server listens on 127.0.0.1 inside the laptop
// namespace. In-process tests run in the root namespace, so this forwards a
// root-namespace loopback port to it (through the world's netns agent) and
// writes a copy of the kubeconfig that points there. Same address, so the
// serving certificate still matches.
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { Cluster } from '../../cluster/index.js';

export interface LaptopApi {
  kubeconfig: string;
  port: number;
  /** Connections forwarded so far. */
  connections: () => number;
}

export async function laptopApi(t: Test, cluster: Cluster, dir: string): Promise<LaptopApi> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    count++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    cluster.laptopConnect(cluster.apiServerPort).then(
      (upstream) => {
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.pipe(upstream).pipe(client);
        if (client.destroyed) upstream.destroy();
      },
      () => client.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  const text = readFileSync(cluster.kubeconfigPath, 'utf8').replace(
    `server: https://127.0.0.1:${cluster.apiServerPort}`,
    `server: https://127.0.0.1:${port}`,
  );
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, text, { mode: 0o644 });
  return { kubeconfig, port, connections: () => count };
}
