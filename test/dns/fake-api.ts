// A small Kubernetes API for the DNS unit tests, which need no test world
// (test/cluster): lists and watches of Services, EndpointSlices and Pods in the
// real wire format, with resourceVersions, and per-token RBAC that answers
// cluster-wide requests from a namespace-scoped user with a 403 Status, and
// a kind the token may not read at all (the tunnel-only Role) likewise.
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../../src/kube/informer.js';

type Kind = 'services' | 'endpointslices' | 'pods';
interface Event {
  rv: number;
  kind: Kind;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

const ROUTE = /^\/(?:api\/v1|apis\/discovery\.k8s\.io\/v1)(?:\/namespaces\/([^/]+))?\/(services|endpointslices|pods)$/;

export class FakeApi {
  readonly #objects = new Map<string, { kind: Kind; object: KubeObject }>();
  readonly #events: Event[] = [];
  readonly #watchers = new Set<{ kind: Kind; namespace: string | undefined; res: http.ServerResponse }>();
  /** token → namespaces it may read ('*' for all). */
  readonly #tokens: Record<string, string[]>;
  /** token → the only kinds it may read (absent: all). */
  readonly #kinds: Record<string, Kind[]>;
  readonly requests: string[] = [];
  #rv = 1000;
  #server: http.Server | undefined;
  url = '';

  constructor(tokens: Record<string, string[]>, kinds: Record<string, Kind[]> = {}) {
    this.#tokens = tokens;
    this.#kinds = kinds;
  }

  async start(): Promise<this> {
    this.#server = http.createServer((req, res) => this.#serve(req, res));
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const w of this.#watchers) w.res.destroy();
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
  }

  /** Writes a kubeconfig for one of the tokens; returns its path. */
  kubeconfig(token: string, namespace: string): string {
    const path = join(mkdtempSync(join(tmpdir(), 'kvpn-dns-kc-')), 'config');
    writeFileSync(
      path,
      `apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: ${token}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: ${namespace}\n`,
    );
    return path;
  }

  apply(kind: Kind, object: KubeObject): void {
    const key = `${kind}/${object.metadata.namespace}/${object.metadata.name}`;
    const existed = this.#objects.has(key);
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.#rv) } };
    this.#objects.set(key, { kind, object: stored });
    this.#emit({ rv: this.#rv, kind, type: existed ? 'MODIFIED' : 'ADDED', object: stored });
  }

  delete(kind: Kind, namespace: string, name: string): void {
    const key = `${kind}/${namespace}/${name}`;
    const entry = this.#objects.get(key);
    if (!entry) return;
    this.#objects.delete(key);
    const object = { ...entry.object, metadata: { ...entry.object.metadata, resourceVersion: String(++this.#rv) } };
    this.#emit({ rv: this.#rv, kind, type: 'DELETED', object });
  }

  /** Cuts every open watch (the informers must resume). */
  cutWatches(): void {
    for (const w of this.#watchers) w.res.destroy();
  }

  #emit(event: Event): void {
    this.#events.push(event);
    for (const w of this.#watchers) {
      if (w.kind === event.kind && (!w.namespace || w.namespace === event.object.metadata.namespace)) {
        w.res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
      }
    }
  }

  #serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const watch = url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true';
    this.requests.push(`${watch ? 'WATCH' : 'LIST'} ${url.pathname}`);
    const route = ROUTE.exec(url.pathname);
    if (!route) {
      status(res, 404, 'NotFound', 'the server could not find the requested resource');
      return;
    }
    const namespace = route[1];
    const kind = route[2] as Kind;
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const allowed = this.#tokens[token];
    if (!allowed) {
      status(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    const kindAllowed = this.#kinds[token]?.includes(kind) ?? true;
    if (!kindAllowed || (!allowed.includes('*') && (!namespace || !allowed.includes(namespace)))) {
      const resource =
        kind === 'endpointslices' ? 'endpointslices" in API group "discovery.k8s.io' : `${kind}" in API group "`;
      const where = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
      status(
        res,
        403,
        'Forbidden',
        `${kind} is forbidden: User "${token}" cannot ${watch ? 'watch' : 'list'} resource "${resource}" ${where}`,
      );
      return;
    }
    const matches = (o: KubeObject) => !namespace || o.metadata.namespace === namespace;
    res.writeHead(200, { 'content-type': 'application/json' });
    if (!watch) {
      const items = [...this.#objects.values()]
        .filter((e) => e.kind === kind && matches(e.object))
        .map((e) => e.object);
      res.end(
        JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(this.#rv) }, items }),
      );
      return;
    }
    const since = Number(url.searchParams.get('resourceVersion') ?? '0');
    for (const e of this.#events) {
      if (e.rv > since && e.kind === kind && matches(e.object))
        res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    }
    const watcher = { kind, namespace, res };
    this.#watchers.add(watcher);
    res.on('close', () => this.#watchers.delete(watcher));
  }
}

function status(res: http.ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}
