// What a workload in the cluster sees of the laptop (kvpn expose): a file
// server on the laptop's loopback, and fetches from inside the echo pod.
import { once } from 'node:events';
import type { Test } from 'tap';
import type { Cluster } from '../../cluster/index.js';

/** A static file server on the laptop's 127.0.0.1:port, serving `dir`. */
export async function laptopServer(t: Test, cluster: Cluster, port: number, dir: string): Promise<void> {
  const script = `
    const http = require('node:http'), fs = require('node:fs'), path = require('node:path');
    http.createServer((req, res) => {
      fs.readFile(path.join(${JSON.stringify(dir)}, path.basename(req.url)), (err, body) => {
        res.writeHead(err ? 404 : 200); res.end(err ? 'no such file' : body);
      });
    }).listen(${port}, '127.0.0.1', () => console.log('listening'));`;
  const child = cluster.spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill());
  await once(child.stdout as NodeJS.ReadableStream, 'data');
}

/**
 * Fetches `url` from inside the echo pod (its resolver, its network): what a workload in the
 * cluster gets. With node's fetch: the world's images carry a static busybox whose wget cannot
 * resolve names (static glibc has no NSS).
 */
export async function fetchInCluster(
  cluster: Cluster,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ code: number; body: string; err: string }> {
  const pod = (await cluster.pods({ app: 'echo' }, 'default'))[0]?.metadata.name as string;
  const options = `{ headers: ${JSON.stringify(headers)}, signal: AbortSignal.timeout(5000) }`;
  const script = `fetch(${JSON.stringify(url)}, ${options})
    .then(async (r) => process.stdout.write(await r.text()))
    .catch((e) => { console.error(String(e.cause ?? e)); process.exit(1); })`;
  const r = await cluster.kubectl(['exec', '-n', 'default', pod, '--', 'node', '-e', script], { context: 'admin' });
  return { code: r.code, body: r.stdout, err: r.stderr };
}

/** kube-proxy programs a Service's new endpoint within its sync period (nftables: 1 s minimum). */
export const KUBE_PROXY_SYNC_MS = 5000;

/**
 * The first fetch after `expose` returned: `expose` waits until the relay listens and the
 * EndpointSlice lists it, but kube-proxy may still refuse for up to its sync period. A refusal is
 * retried within that; anything else (a reset from the laptop side included) is the answer.
 */
export async function fetchOnceProgrammed(
  cluster: Cluster,
  url: string,
): Promise<{ code: number; body: string; err: string; waitedMs: number }> {
  const start = Date.now();
  for (;;) {
    const r = await fetchInCluster(cluster, url);
    if (r.code === 0 || !/ECONNREFUSED/.test(r.err) || Date.now() - start > KUBE_PROXY_SYNC_MS)
      return { ...r, waitedMs: Date.now() - start };
  }
}
