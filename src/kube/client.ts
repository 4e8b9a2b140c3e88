// Access to the Kubernetes API: kubeconfig loading (kubectl's merge rules),
// authentication (CA, client certs, bearer tokens, exec credential plugins,
// proxies — all through @kubernetes/client-node), JSON requests and the
// options a WebSocket needs. This is the only module that imports
// @kubernetes/client-node.

import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KvpnError } from '../errors.js';
import { KubeApiError, KubeUnreachableError, readStatus } from './errors.js';

export { KubeApiError, KubeUnreachableError } from './errors.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface KubeTarget {
  /** Kubeconfig path(s), `:`-separated like $KUBECONFIG. Default: $KUBECONFIG, else ~/.kube/config. */
  kubeconfig?: string | undefined;
  /** Context name; default: the kubeconfig's current-context. */
  context?: string | undefined;
  /** Namespace override; default: the context's namespace, else "default". */
  namespace?: string | undefined;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
  contentType?: string;
  signal?: AbortSignal;
}

/** An exec credential plugin, as a kubeconfig's `users[].user.exec` names it. */
export interface ExecPlugin {
  apiVersion: string;
  command: string;
  args: string[];
  env: { name: string; value: string }[];
  interactiveMode: 'Never' | 'IfAvailable' | 'Always';
  provideClusterInfo: boolean;
}

export class KubeconfigError extends KvpnError {
  constructor(message: string, options: { cause?: unknown; remedy?: string } = {}) {
    super('KVPN_ERR_KUBECONFIG', 'config', message, options);
  }
}

export class UnknownContextError extends KvpnError {
  readonly contexts: string[];
  constructor(context: string, contexts: string[]) {
    const list = contexts.length ? contexts.join(', ') : '(none)';
    super('KVPN_ERR_UNKNOWN_CONTEXT', 'user', `context "${context}" is not in the kubeconfig`, {
      remedy: `Pick one of: ${list}${nearest(context, contexts) ? ` (did you mean "${nearest(context, contexts)}"?)` : ''}.`,
    });
    this.contexts = contexts;
  }
}

export function kubeconfigPaths(explicit?: string): string[] {
  const raw = explicit ?? process.env.KUBECONFIG;
  if (raw && raw.length > 0) return raw.split(delimiter).filter(Boolean);
  return [join(homedir(), '.kube', 'config')];
}

/** Loads and merges kubeconfig files with kubectl's rules: the first file to define a name wins. */
export function loadKubeConfig(paths: string[]): KubeConfig {
  const clusters = new Map<string, unknown>();
  const users = new Map<string, unknown>();
  const contexts = new Map<string, unknown>();
  let currentContext: string | undefined;
  let loaded = 0;
  for (const path of paths) {
    if (!existsSync(path)) continue;
    const one = new KubeConfig();
    try {
      one.loadFromFile(path);
    } catch (err) {
      throw new KubeconfigError(`cannot read kubeconfig ${path}: ${(err as Error).message}`, {
        cause: err,
        remedy: 'Check the file is valid YAML (kubectl config view shows what kubectl makes of it).',
      });
    }
    loaded++;
    for (const c of one.clusters) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of one.users) if (!users.has(u.name)) users.set(u.name, u);
    for (const x of one.contexts) if (!contexts.has(x.name)) contexts.set(x.name, x);
    if (!currentContext && one.currentContext) currentContext = one.currentContext;
  }
  if (loaded === 0) {
    throw new KubeconfigError(`no kubeconfig found (looked at ${paths.join(', ')})`, {
      remedy: 'Pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config.',
    });
  }
  const merged = new KubeConfig();
  merged.loadFromOptions({
    clusters: [...clusters.values()],
    users: [...users.values()],
    contexts: [...contexts.values()],
    currentContext,
  });
  return merged;
}

export class KubeClient {
  readonly contextName: string;
  readonly namespace: string;
  readonly server: URL;
  readonly clusterName: string;
  readonly userName: string;
  readonly #config: KubeConfig;
  #agent: http.Agent | undefined;

  private constructor(config: KubeConfig, namespace: string) {
    this.#config = config;
    const context = config.getContextObject(config.currentContext);
    const cluster = config.getCurrentCluster();
    const user = config.getCurrentUser();
    if (!context || !cluster) {
      throw new KubeconfigError(`context "${config.currentContext}" names a cluster that is not defined`);
    }
    this.contextName = context.name;
    this.clusterName = cluster.name;
    this.userName = user?.name ?? '';
    this.namespace = namespace;
    try {
      this.server = new URL(cluster.server);
    } catch (err) {
      throw new KubeconfigError(`cluster "${cluster.name}" has an invalid server URL "${cluster.server}"`, {
        cause: err,
      });
    }
  }

  static load(target: KubeTarget = {}): KubeClient {
    const config = loadKubeConfig(kubeconfigPaths(target.kubeconfig));
    const names = config.getContexts().map((c) => c.name);
    const wanted = target.context ?? config.currentContext;
    if (!wanted) {
      throw new KubeconfigError('the kubeconfig has no current-context', {
        remedy: `Pass --context (one of: ${names.join(', ') || 'none defined'}).`,
      });
    }
    if (!names.includes(wanted)) throw new UnknownContextError(wanted, names);
    config.setCurrentContext(wanted);
    const namespace = target.namespace ?? config.getContextObject(wanted)?.namespace ?? 'default';
    return new KubeClient(config, namespace);
  }

  /**
   * The same kubeconfig with the context's user authenticating through `exec`
   * instead: what a file defining only that user, put in front of the others,
   * would give (kubectl's merge: the first definition of a name wins) —
   * without reading the files again.
   */
  withExecUser(exec: ExecPlugin): KubeClient {
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: this.#config.clusters,
      users: this.#config.users.map((u) => (u.name === this.userName ? { name: u.name, exec } : u)),
      contexts: this.#config.contexts,
      currentContext: this.#config.currentContext,
    });
    return new KubeClient(config, this.namespace);
  }

  /** Context names in the loaded kubeconfig. */
  contexts(): string[] {
    return this.#config.getContexts().map((c) => c.name);
  }

  /**
   * TLS and auth options for one request or WebSocket: CA, client certs and
   * a fresh Authorization header (exec plugins and token files are re-read
   * by client-node when they expire). Connections are pooled per client.
   */
  async connectionOptions(): Promise<https.RequestOptions> {
    const opts: https.RequestOptions = {};
    try {
      await this.#config.applyToHTTPSOptions(opts);
    } catch (err) {
      throw new KubeconfigError(`cannot get credentials for user "${this.userName}": ${(err as Error).message}`, {
        cause: err,
        remedy: 'Check the user entry of the kubeconfig (for exec plugins, run the command by hand).',
      });
    }
    const proxied = Boolean(this.#config.getCurrentCluster()?.proxyUrl);
    if (!proxied) {
      // client-node builds a new agent per call; keep one so connections are reused.
      this.#agent ??= this.#makeAgent(opts);
      opts.agent = this.#agent;
    }
    return opts;
  }

  #makeAgent(opts: https.RequestOptions): http.Agent {
    if (this.server.protocol === 'http:') return new http.Agent({ keepAlive: true, maxSockets: 32 });
    return new https.Agent({
      keepAlive: true,
      maxSockets: 32,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      pfx: opts.pfx,
      passphrase: opts.passphrase,
      servername: opts.servername,
      ...(opts.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: opts.rejectUnauthorized }),
    });
  }

  url(path: string, query?: RequestOptions['query']): URL {
    const base = this.server.pathname.replace(/\/$/, '');
    const url = new URL(`${base}${path}`, this.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /** A JSON request; non-2xx answers become KubeApiError with the API's Status. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.open(method, path, options);
    const body = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new KubeApiError(method, path, status, readStatus(body));
    if (body.length === 0) return undefined as T;
    try {
      return JSON.parse(body.toString('utf8')) as T;
    } catch (err) {
      throw new KubeApiError(method, path, status, { message: 'the API answered with invalid JSON' }, err);
    }
  }

  /** Opens a request and returns the response stream (for watches and logs). */
  async open(method: string, path: string, options: RequestOptions = {}): Promise<http.IncomingMessage> {
    const conn = await this.connectionOptions();
    const url = this.url(path, options.query);
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: http.OutgoingHttpHeaders = {
      ...(conn.headers as http.OutgoingHttpHeaders),
      accept: 'application/json',
    };
    if (payload) {
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = payload.length;
    }
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        url,
        { ...conn, method, headers, timeout: options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, signal: options.signal },
        resolve,
      );
      req.on('timeout', () => req.destroy(new KubeUnreachableError(this.server.origin, 'request timed out')));
      req.on('error', (err) =>
        reject(err instanceof KvpnError ? err : new KubeUnreachableError(this.server.origin, err)),
      );
      req.end(payload);
    });
  }

  close(): void {
    this.#agent?.destroy();
    this.#agent = undefined;
  }
}

async function readBody(res: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024 * 1024) {
      res.destroy();
      throw new KubeApiError('GET', res.url ?? '', res.statusCode ?? 0, { message: 'response larger than 64 MiB' });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function nearest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
