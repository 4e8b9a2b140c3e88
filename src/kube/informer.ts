// List-then-watch of one resource collection, kept up to date: the cache
// behind DNS answers and CIDR discovery. A broken watch is resumed from the
// last resourceVersion; a 410 Gone (or any list error) relists after a
// backoff, and the relist reports objects that vanished meanwhile as DELETED.
import type { IncomingMessage } from 'node:http';
import type { KubeClient } from './client.js';
import { KubeApiError } from './errors.js';

export interface KubeObject {
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
  };
}

export type InformerEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface InformerHandlers<T> {
  onEvent?(type: InformerEventType, object: T): void;
  /** Called after each successful (re)list, once the cache matches the API. */
  onSynced?(): void;
  /** Called for each failed list/watch attempt; the informer retries by itself. */
  onError?(err: Error): void;
}

export const INFORMER_BACKOFF_MIN_MS = 250;
export const INFORMER_BACKOFF_MAX_MS = 30_000;
/** Servers close watches after this long; we ask for it explicitly. */
const WATCH_TIMEOUT_S = 300;
const MAX_LINE_BYTES = 16 * 1024 * 1024;

export function objectKey(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

export class Informer<T extends KubeObject> {
  readonly #client: KubeClient;
  readonly #path: string;
  readonly #query: Record<string, string>;
  readonly #handlers: InformerHandlers<T>;
  readonly #cache = new Map<string, T>();
  #resourceVersion = '';
  #closed = false;
  #synced = false;
  #backoffMs = INFORMER_BACKOFF_MIN_MS;
  #timer: NodeJS.Timeout | undefined;
  #response: IncomingMessage | undefined;
  #abort = new AbortController();

  /** `path` is a collection, e.g. `/api/v1/namespaces/default/services` or `/api/v1/services`. */
  constructor(client: KubeClient, path: string, handlers: InformerHandlers<T>, query: Record<string, string> = {}) {
    this.#client = client;
    this.#path = path;
    this.#handlers = handlers;
    this.#query = query;
  }

  get synced(): boolean {
    return this.#synced;
  }

  items(): T[] {
    return [...this.#cache.values()];
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  start(): this {
    void this.#list();
    return this;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
    this.#response?.destroy();
  }

  async #list(): Promise<void> {
    if (this.#closed) return;
    try {
      const list = await this.#client.request<{ metadata: { resourceVersion: string }; items: T[] }>(
        'GET',
        this.#path,
        {
          query: this.#query,
          signal: this.#abort.signal,
        },
      );
      if (this.#closed) return;
      const seen = new Set<string>();
      for (const item of list.items ?? []) {
        const key = objectKey(item);
        seen.add(key);
        const old = this.#cache.get(key);
        this.#cache.set(key, item);
        if (!old) this.#emit('ADDED', item);
        else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.#emit('MODIFIED', item);
      }
      for (const [key, old] of this.#cache) {
        if (!seen.has(key)) {
          this.#cache.delete(key);
          this.#emit('DELETED', old);
        }
      }
      this.#resourceVersion = list.metadata?.resourceVersion ?? '';
      this.#synced = true;
      this.#handlers.onSynced?.();
      void this.#watch();
    } catch (err) {
      this.#retry(err as Error, () => this.#list());
    }
  }

  async #watch(): Promise<void> {
    if (this.#closed) return;
    let res: IncomingMessage;
    try {
      res = await this.#client.open('GET', this.#path, {
        query: {
          ...this.#query,
          watch: '1',
          allowWatchBookmarks: 'true',
          resourceVersion: this.#resourceVersion,
          timeoutSeconds: WATCH_TIMEOUT_S,
        },
        timeoutMs: (WATCH_TIMEOUT_S + 30) * 1000,
        signal: this.#abort.signal,
      });
    } catch (err) {
      this.#retry(err as Error, () => this.#watch());
      return;
    }
    if (this.#closed) {
      res.destroy();
      return;
    }
    if ((res.statusCode ?? 0) !== 200) {
      res.resume();
      const err = new KubeApiError('WATCH', this.#path, res.statusCode ?? 0, {});
      this.#retry(err, () => (res.statusCode === 410 ? this.#list() : this.#watch()));
      return;
    }
    this.#response = res;
    let pending = '';
    let relist = false;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      pending += chunk;
      if (pending.length > MAX_LINE_BYTES) {
        relist = true;
        res.destroy();
        return;
      }
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim() && !this.#applyLine(line)) {
          relist = true;
          res.destroy();
          return;
        }
        nl = pending.indexOf('\n');
      }
    });
    res.on('error', () => {});
    res.on('close', () => {
      if (this.#response === res) this.#response = undefined;
      if (this.#closed) return;
      this.#backoffMs = INFORMER_BACKOFF_MIN_MS;
      if (relist) this.#retry(new Error(`watch of ${this.#path} expired; relisting`), () => this.#list());
      else void this.#watch();
    });
  }

  /** Applies one watch event; false when the watch must be restarted with a relist. */
  #applyLine(line: string): boolean {
    let event: { type?: string; object?: T & { code?: number } };
    try {
      event = JSON.parse(line);
    } catch {
      return false;
    }
    const object = event.object;
    if (!object?.metadata) return event.type !== 'ERROR' && event.type !== undefined;
    if (event.type === 'ERROR') return false;
    if (object.metadata.resourceVersion) this.#resourceVersion = object.metadata.resourceVersion;
    const key = objectKey(object);
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.#cache.set(key, object);
        this.#emit(event.type, object);
        return true;
      case 'DELETED':
        this.#cache.delete(key);
        this.#emit('DELETED', object);
        return true;
      case 'BOOKMARK':
        return true;
      default:
        return false;
    }
  }

  #emit(type: InformerEventType, object: T): void {
    this.#handlers.onEvent?.(type, object);
  }

  #retry(err: Error, next: () => Promise<void>): void {
    if (this.#closed) return;
    this.#handlers.onError?.(err);
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(INFORMER_BACKOFF_MAX_MS, this.#backoffMs * 2);
    this.#timer = setTimeout(() => void next(), delay);
  }
}
