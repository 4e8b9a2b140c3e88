// The world's own way into its real API server: JSON requests with the
// admin client certificate, and the store-like reads the control socket
// serves ("pods", "apps/deployments", … as the stand-in names them).
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import type { KObject } from '../apiserver/objects.js';

/** Store key → API group version, plural, namespaced. */
const RESOURCES: Record<string, { gv: string; plural: string; namespaced: boolean }> = {
  pods: { gv: 'v1', plural: 'pods', namespaced: true },
  services: { gv: 'v1', plural: 'services', namespaced: true },
  configmaps: { gv: 'v1', plural: 'configmaps', namespaced: true },
  secrets: { gv: 'v1', plural: 'secrets', namespaced: true },
  serviceaccounts: { gv: 'v1', plural: 'serviceaccounts', namespaced: true },
  endpoints: { gv: 'v1', plural: 'endpoints', namespaced: true },
  events: { gv: 'v1', plural: 'events', namespaced: true },
  namespaces: { gv: 'v1', plural: 'namespaces', namespaced: false },
  nodes: { gv: 'v1', plural: 'nodes', namespaced: false },
  'apps/deployments': { gv: 'apps/v1', plural: 'deployments', namespaced: true },
  'apps/replicasets': { gv: 'apps/v1', plural: 'replicasets', namespaced: true },
  'apps/statefulsets': { gv: 'apps/v1', plural: 'statefulsets', namespaced: true },
  'apps/daemonsets': { gv: 'apps/v1', plural: 'daemonsets', namespaced: true },
  'discovery.k8s.io/endpointslices': { gv: 'discovery.k8s.io/v1', plural: 'endpointslices', namespaced: true },
  'rbac.authorization.k8s.io/roles': { gv: 'rbac.authorization.k8s.io/v1', plural: 'roles', namespaced: true },
  'rbac.authorization.k8s.io/rolebindings': {
    gv: 'rbac.authorization.k8s.io/v1',
    plural: 'rolebindings',
    namespaced: true,
  },
  'rbac.authorization.k8s.io/clusterroles': {
    gv: 'rbac.authorization.k8s.io/v1',
    plural: 'clusterroles',
    namespaced: false,
  },
  'rbac.authorization.k8s.io/clusterrolebindings': {
    gv: 'rbac.authorization.k8s.io/v1',
    plural: 'clusterrolebindings',
    namespaced: false,
  },
  'networking.k8s.io/servicecidrs': { gv: 'networking.k8s.io/v1', plural: 'servicecidrs', namespaced: false },
};

export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class AdminApi {
  readonly #server: string;
  #tls: Promise<{ ca: Buffer; cert: Buffer; key: Buffer }>;

  constructor(server: string, files: { ca: string; cert: string; key: string }) {
    this.#server = server;
    this.#tls = Promise.all([readFile(files.ca), readFile(files.cert), readFile(files.key)]).then(
      ([ca, cert, key]) => ({ ca, cert, key }),
    );
  }

  async request<T = KObject>(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
    const tls = await this.#tls;
    const url = new URL(path, this.#server);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ...tls,
          headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
          timeout: timeoutMs,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              let message = text;
              try {
                message = (JSON.parse(text) as { message?: string }).message ?? text;
              } catch {}
              reject(new AdminApiError(status, `${method} ${path}: ${status} ${message}`));
            } else {
              try {
                resolve((text ? JSON.parse(text) : undefined) as T);
              } catch {
                resolve(text as T); // /readyz and friends answer plain text
              }
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** The path of a collection or, with `name`, of one object. */
  static path(key: string, namespace: string | undefined, name?: string): string {
    const r = RESOURCES[key];
    if (!r) throw new AdminApiError(400, `unknown resource key "${key}"`);
    const base = r.gv === 'v1' ? '/api/v1' : `/apis/${r.gv}`;
    const ns = r.namespaced && namespace ? `/namespaces/${namespace}` : '';
    return `${base}${ns}/${r.plural}${name ? `/${name}` : ''}`;
  }

  async list(key: string, namespace?: string): Promise<KObject[]> {
    return (await this.request<{ items: KObject[] }>('GET', AdminApi.path(key, namespace))).items;
  }

  async get(key: string, namespace: string, name: string): Promise<KObject | null> {
    return this.request('GET', AdminApi.path(key, namespace, name)).catch((err) => {
      if (err instanceof AdminApiError && err.status === 404) return null;
      throw err;
    });
  }

  /** Waits until GET /readyz answers ok. */
  async waitReady(deadline: number, giveUp: Promise<never>): Promise<void> {
    for (;;) {
      const ok = await Promise.race([
        this.request<string>('GET', '/readyz', undefined, 2_000).then(
          () => true,
          () => false,
        ),
        giveUp,
      ]);
      if (ok) return;
      if (Date.now() > deadline) throw new Error('the API server did not become ready');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
