// The stand-in's etcd: objects by resource and namespace/name, one global
// resourceVersion counter, and a bounded history of changes so watches can
// resume from a resourceVersion (or be told it is too old, as etcd
// compaction does).
import { randomUUID } from 'node:crypto';
import { clone, type KObject, objectKey, type StoreEvent, timestamp, type WatchEventType } from './objects.js';

const HISTORY_LIMIT_EVENTS = 20_000;

export type StoreListener = (event: StoreEvent) => void;

export class StoreConflict extends Error {
  constructor(readonly reason: 'AlreadyExists' | 'NotFound' | 'Conflict') {
    super(reason);
  }
}

export class Store {
  #rv = 1;
  #objects = new Map<string, Map<string, KObject>>();
  #history: StoreEvent[] = [];
  /** Oldest resourceVersion a watch may resume from. */
  #compactedRv = 1;
  #listeners = new Set<StoreListener>();

  get resourceVersion(): number {
    return this.#rv;
  }
  get compactedRv(): number {
    return this.#compactedRv;
  }

  #table(key: string): Map<string, KObject> {
    let t = this.#objects.get(key);
    if (!t) {
      t = new Map();
      this.#objects.set(key, t);
    }
    return t;
  }

  get(key: string, namespace: string | undefined, name: string): KObject | undefined {
    const o = this.#table(key).get(objectKey(namespace, name));
    return o && clone(o);
  }

  list(key: string, namespace?: string): KObject[] {
    const out: KObject[] = [];
    for (const o of this.#table(key).values()) {
      if (namespace === undefined || o.metadata.namespace === namespace) out.push(clone(o));
    }
    return out.sort((a, b) =>
      objectKey(a.metadata.namespace, a.metadata.name ?? '').localeCompare(
        objectKey(b.metadata.namespace, b.metadata.name ?? ''),
      ),
    );
  }

  create(key: string, input: KObject): KObject {
    const obj = clone(input);
    const t = this.#table(key);
    const name = obj.metadata.name ?? '';
    const k = objectKey(obj.metadata.namespace, name);
    if (t.has(k)) throw new StoreConflict('AlreadyExists');
    obj.metadata.uid ??= randomUUID();
    obj.metadata.creationTimestamp ??= timestamp();
    obj.metadata.resourceVersion = String(++this.#rv);
    t.set(k, obj);
    this.#emit('ADDED', key, obj);
    return clone(obj);
  }

  /** Replaces an object; `expectRv` makes it a compare-and-swap. */
  update(key: string, input: KObject, expectRv?: string): KObject {
    const obj = clone(input);
    const t = this.#table(key);
    const k = objectKey(obj.metadata.namespace, obj.metadata.name ?? '');
    const old = t.get(k);
    if (!old) throw new StoreConflict('NotFound');
    if (expectRv !== undefined && expectRv !== '' && expectRv !== old.metadata.resourceVersion) {
      throw new StoreConflict('Conflict');
    }
    obj.metadata.uid = old.metadata.uid;
    obj.metadata.creationTimestamp = old.metadata.creationTimestamp;
    obj.metadata.resourceVersion = String(++this.#rv);
    t.set(k, obj);
    this.#emit('MODIFIED', key, obj, old);
    return clone(obj);
  }

  /** Read-modify-write without conflicts (controllers, kubelet). */
  mutate(key: string, namespace: string | undefined, name: string, fn: (o: KObject) => void): KObject | undefined {
    const cur = this.#table(key).get(objectKey(namespace, name));
    if (!cur) return undefined;
    const next = clone(cur);
    fn(next);
    if (JSON.stringify(next) === JSON.stringify(cur)) return clone(cur);
    return this.update(key, next);
  }

  remove(key: string, namespace: string | undefined, name: string): KObject {
    const t = this.#table(key);
    const k = objectKey(namespace, name);
    const old = t.get(k);
    if (!old) throw new StoreConflict('NotFound');
    t.delete(k);
    old.metadata.resourceVersion = String(++this.#rv);
    this.#emit('DELETED', key, old);
    return clone(old);
  }

  /**
   * Changes to `key` after `rv`, or 'expired' when history no longer
   * reaches back that far.
   */
  since(key: string, rv: number): StoreEvent[] | 'expired' {
    if (rv < this.#compactedRv) return 'expired';
    return this.#history.filter((e) => e.key === key && e.rv > rv);
  }

  /** Forget all history (as etcd compaction does): old watches get 410. */
  compact(): void {
    this.#history = [];
    this.#compactedRv = this.#rv;
  }

  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(type: WatchEventType, key: string, obj: KObject, prev?: KObject): void {
    const event: StoreEvent = { type, key, rv: this.#rv, object: clone(obj) };
    if (prev) event.prev = prev;
    this.#history.push(event);
    if (this.#history.length > HISTORY_LIMIT_EVENTS) {
      const dropped = this.#history.splice(0, this.#history.length - HISTORY_LIMIT_EVENTS);
      this.#compactedRv = dropped[dropped.length - 1]?.rv ?? this.#compactedRv;
    }
    for (const l of [...this.#listeners]) l(event);
  }
}
