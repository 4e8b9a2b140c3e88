// core/v1 Events, as the kubelet and scheduler record them (kubectl
// describe shows them; tests read ErrImagePull and Killing from them).
import { randomBytes } from 'node:crypto';
import { type KObject, microTimestamp, timestamp } from '../apiserver/objects.js';
import type { Store } from '../apiserver/store.js';

export class EventRecorder {
  #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  record(
    pod: KObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    component: string,
    host?: string,
  ): void {
    const ns = pod.metadata.namespace ?? 'default';
    const now = timestamp();
    const event: KObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${pod.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: {
        kind: 'Pod',
        namespace: ns,
        name: pod.metadata.name,
        uid: pod.metadata.uid,
        apiVersion: 'v1',
        resourceVersion: pod.metadata.resourceVersion,
      },
      reason,
      message,
      source: host ? { component, host } : { component },
      firstTimestamp: now,
      lastTimestamp: now,
      eventTime: null,
      count: 1,
      type,
      reportingComponent: component,
      reportingInstance: host ?? '',
    };
    if (component === 'default-scheduler') {
      event.eventTime = microTimestamp();
      event.firstTimestamp = null;
      event.lastTimestamp = null;
    }
    try {
      if (this.#store.get('namespaces', undefined, ns)) this.#store.create('events', event);
    } catch {}
  }
}
