// The real world's control socket: the same HTTP-over-unix protocol as the
// stand-in's (control-server.ts), so the Cluster client works with both.
// Reads come from the real API server; faults that only a stand-in can
// inject (API restarts, latency, loss) answer 501.
import { execFile } from 'node:child_process';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { closeControl, jsonBody, listenControl } from '../control-http.js';
import { AdminApi, AdminApiError } from './admin-api.js';
import { NODE_IP, NODE_POD_CIDR } from './layout.js';
import type { RealWorld } from './world.js';

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function ctr(address: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ctr', ['--address', address, '-n', 'k8s.io', ...args], (err, stdout, stderr) =>
      err ? reject(new Error(`ctr ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}

export class RealControlServer {
  readonly #world: RealWorld;
  readonly #onShutdown: () => void;
  #server: Server | undefined;

  constructor(world: RealWorld, onShutdown: () => void) {
    this.#world = world;
    this.#onShutdown = onShutdown;
  }

  async listen(path: string): Promise<void> {
    this.#server = await listenControl(
      path,
      (req, res) => this.#handle(req, res),
      (err) => (err instanceof ControlError || err instanceof AdminApiError ? err.status : 500),
    );
  }

  close(): void {
    closeControl(this.#server);
  }

  /** The host pids of a pod's running containers (its sandbox first), from containerd. */
  async #podPids(namespace: string, name: string): Promise<number[]> {
    const address = this.#world.layout.containerdSocket;
    const filter = `labels."io.kubernetes.pod.name"==${name},labels."io.kubernetes.pod.namespace"==${namespace}`;
    const ids = (await ctr(address, ['containers', 'ls', '--quiet', filter])).split('\n').filter(Boolean);
    const tasks = new Map(
      (await ctr(address, ['tasks', 'ls']))
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f[2] === 'RUNNING')
        .map((f) => [f[0], Number(f[1])] as const),
    );
    return ids.map((id) => tasks.get(id)).filter((pid): pid is number => !!pid);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://control.invalid');
    const w = this.#world;
    const api = w.api;
    if (!api) throw new ControlError(503, 'the world is still starting');
    const b = req.method === 'POST' ? await jsonBody(req) : {};
    const reply = (v: unknown): void => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(v));
    };
    const ns = String(b.namespace ?? url.searchParams.get('namespace') ?? 'default');
    const name = String(b.name ?? url.searchParams.get('name') ?? '');
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /status':
        return reply({ id: w.layout.id, kind: 'real' });
      case 'GET /objects': {
        const key = url.searchParams.get('key') ?? 'pods';
        if (name) return reply(await api.get(key, ns, name));
        return reply(await api.list(key, url.searchParams.get('allNamespaces') === 'true' ? undefined : ns));
      }
      case 'GET /pod-net': {
        const pod = await api.get('pods', ns, name);
        if (!pod) throw new ControlError(404, `pods "${name}" not found`);
        const pids = await this.#podPids(ns, name);
        if (!pids[0]) throw new ControlError(409, `pod ${ns}/${name} has no running container`);
        return reply({
          ip: pod.status?.podIP,
          // A path, not a name: the pod's namespace file lives in the node's private mount namespace.
          netns: `/proc/${pids[0]}/ns/net`,
          node: 0,
          nodeNetns: w.layout.nodeNetnsName,
          pids,
        });
      }
      case 'GET /nodes':
        return reply([{ name: w.layout.node, netns: w.layout.nodeNetnsName, ip: NODE_IP, podCidr: NODE_POD_CIDR }]);
      case 'GET /upstream-dns/queries':
        return reply(w.upstream.dns?.queries ?? []);
      case 'POST /faults/delete-pod': {
        const grace = b.gracePeriodSeconds as number | undefined;
        const q = grace === undefined ? '' : `?gracePeriodSeconds=${grace}`;
        await api.request('DELETE', `${AdminApi.path('pods', ns, name)}${q}`);
        return reply({ deleted: true });
      }
      case 'POST /shutdown':
        reply({ ok: true });
        setImmediate(this.#onShutdown);
        return;
      default:
        throw new ControlError(
          req.method === 'POST' ? 501 : 404,
          `the real world has no control endpoint ${req.method} ${url.pathname} (faults are the stand-in's)`,
        );
    }
  }
}
