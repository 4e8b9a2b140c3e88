// The daemon's control API, HTTP over a unix socket in the world directory:
// read objects, pod network facts, and the faults. Used by the Cluster
// client (index.ts) and the CLI.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { resourceKey } from './apiserver/resources.js';
import { ApiError } from './apiserver/status.js';
import { closeControl, jsonBody, listenControl } from './control-http.js';
import type { World } from './world.js';

export class ControlServer {
  #world: World;
  #server: Server | undefined;
  #onShutdown: () => void;

  constructor(world: World, onShutdown: () => void) {
    this.#world = world;
    this.#onShutdown = onShutdown;
  }

  async listen(path: string): Promise<void> {
    this.#server = await listenControl(
      path,
      (req, res) => this.#handle(req, res),
      (err) => (err instanceof ApiError ? err.code : 500),
    );
  }

  close(): void {
    closeControl(this.#server);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://control.invalid');
    const w = this.#world;
    const b = req.method === 'POST' ? await jsonBody(req) : {};
    const reply = (v: unknown): void => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(v));
    };
    const ns = String(b.namespace ?? url.searchParams.get('namespace') ?? 'default');
    const name = String(b.name ?? url.searchParams.get('name') ?? '');
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /status':
        return reply({
          id: w.layout.id,
          apiServer: {
            listening: w.apiServer?.listening,
            port: w.apiServer?.port,
            portForwards: w.apiServer?.portForwards.openCount,
          },
          faults: { latencyMs: w.faults?.latencyMs, lossPercent: w.faults?.lossPercent },
          serviceCidrApi: w.serviceCidrApi,
          kubeProxyGeneration: w.kubeProxy?.generation,
        });
      case 'GET /objects': {
        const key = url.searchParams.get('key') ?? 'pods';
        const all = url.searchParams.get('allNamespaces') === 'true';
        if (name) return reply(w.store.get(key, resourceKeyIsNamespaced(w, key) ? ns : undefined, name) ?? null);
        return reply(w.store.list(key, all || !resourceKeyIsNamespaced(w, key) ? undefined : ns));
      }
      case 'GET /pod-net': {
        const pod = w.store.get('pods', ns, name);
        const rt = pod && w.kubelet?.runtimeFor(pod);
        if (!pod || !rt) throw new ApiError(404, 'NotFound', `pods "${name}" not found`);
        return reply({
          ip: rt.podIp,
          netns: rt.netns,
          node: rt.node,
          nodeNetns: w.network.nodes[rt.node]?.netns,
          pids: rt
            .containers()
            .map((c) => c.pid)
            .filter(Boolean),
        });
      }
      case 'GET /nodes':
        return reply(
          w.network.nodes.map((n) => ({
            name: w.layout.nodeName(n.index),
            netns: n.netns,
            ip: n.ip,
            podCidr: n.podCidr,
          })),
        );
      case 'GET /upstream-dns/queries':
        return reply(w.upstream.dns?.queries ?? []);
      case 'GET /apiserver/requests':
        return reply(w.apiServer?.requests ?? []);
      case 'POST /faults/kill-pod':
        return reply({ killed: w.kubelet?.killPod(ns, name, (b.signal as NodeJS.Signals) ?? 'SIGKILL') ?? false });
      case 'POST /faults/delete-pod': {
        const def = w.table.byKey('pods');
        const pod = w.store.get('pods', ns, name);
        if (!pod) throw new ApiError(404, 'NotFound', `pods "${name}" not found`);
        w.rest.deleteObject(def, pod, b.gracePeriodSeconds as number | undefined, false);
        return reply({ deleted: true });
      }
      case 'POST /faults/cut-port-forwards':
        return reply({ cut: w.apiServer?.portForwards.cutAll() ?? 0 });
      case 'POST /faults/restart-apiserver': {
        await w.apiServer?.stop();
        if (b.compact) w.store.compact();
        const downMs = Number(b.downMs ?? 0);
        if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
        await w.apiServer?.start();
        return reply({ port: w.apiServer?.port });
      }
      case 'POST /faults/stop-apiserver':
        await w.apiServer?.stop();
        return reply({ listening: false });
      case 'POST /faults/start-apiserver':
        await w.apiServer?.start();
        return reply({ listening: true });
      case 'POST /faults/api-latency':
        await w.faults?.setLatency(Number(b.ms ?? 0));
        return reply({ latencyMs: w.faults?.latencyMs });
      case 'POST /faults/api-loss':
        await w.faults?.setLoss(Number(b.percent ?? 0));
        return reply({ lossPercent: w.faults?.lossPercent });
      case 'POST /service-cidr-api':
        w.serviceCidrApi = !!b.enabled;
        return reply({ enabled: w.serviceCidrApi });
      case 'POST /shutdown':
        reply({ ok: true });
        setImmediate(this.#onShutdown);
        return;
      default:
        throw new ApiError(404, 'NotFound', `no control endpoint ${req.method} ${url.pathname}`);
    }
  }
}

function resourceKeyIsNamespaced(w: World, key: string): boolean {
  return w.table.byKey(key).namespaced || resourceKey(w.table.byKey(key)) === '';
}
