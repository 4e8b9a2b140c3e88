// The shapes the stand-in stores: Kubernetes objects as plain JSON, with the
// few metadata fields the server itself reads typed.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [key: string]: unknown;
}

export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  // biome-ignore lint/suspicious/noExplicitAny: objects are schemaless JSON here
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: objects are schemaless JSON here
  status?: any;
  // biome-ignore lint/suspicious/noExplicitAny: objects are schemaless JSON here
  [key: string]: any;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  /** Resource key, see ResourceDef.key. */
  key: string;
  rv: number;
  object: KObject;
  /** The object before a MODIFIED change (watch filters need it). */
  prev?: KObject;
}

/** Kubernetes timestamps carry whole seconds. */
export function timestamp(ms: number = Date.now()): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** Kubernetes microsecond timestamps (events, leases). */
export function microTimestamp(ms: number = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** A pod whose Ready condition is True (what Services, rollouts and waits go by). */
export function podIsReady(p: KObject | null | undefined): boolean {
  return (p?.status?.conditions ?? []).some(
    (c: { type?: string; status?: string }) => c.type === 'Ready' && c.status === 'True',
  );
}
