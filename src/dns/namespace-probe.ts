// Is a label the name of a namespace? Asked when a name outside the zone
// (resolv.conf mode) ends in a label we cannot see as a namespace — a
// namespace-scoped user does not watch other namespaces — because
// "web.shop" tried as-is must fail fast for the search list to find
// web.shop.svc.<zone>, not be answered by the Internet (".shop" is a real
// TLD). The cluster DNS answers <label>.svc.<zone> with NODATA for a
// namespace and NXDOMAIN otherwise (CoreDNS's kubernetes plugin). Results
// are cached, so a TLD such as "com" costs one round trip per minute.
import { encodeQuestion, headerRcode, RCODE, TYPE } from './codec.js';
import type { Forwarder } from './tcp-forwarder.js';

export const PROBE_CACHE_TTL_MS = 60_000;
/** A probe that failed (timeout) is retried after this. */
const PROBE_FAILURE_TTL_MS = 5_000;
const MAX_CACHED = 1024;

/** Kubernetes namespace names are RFC 1123 labels. */
export const NAMESPACE_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export class NamespaceProbe {
  readonly #forwarder: Forwarder;
  readonly #cache = new Map<string, { exists: boolean; expiresMs: number }>();
  readonly #pending = new Map<string, Promise<boolean>>();

  constructor(forwarder: Forwarder) {
    this.#forwarder = forwarder;
  }

  /** The cached answer, if fresh. */
  known(label: string, nowMs: number): boolean | undefined {
    const hit = this.#cache.get(label);
    if (!hit) return undefined;
    if (hit.expiresMs > nowMs) return hit.exists;
    this.#cache.delete(label);
    return undefined;
  }

  /** Asks the cluster DNS (one query in flight per label). Never rejects: failure means "no". */
  exists(label: string, zone: string): Promise<boolean> {
    let pending = this.#pending.get(label);
    if (pending) return pending;
    pending = this.#forwarder.query(encodeQuestion(`${label}.svc.${zone}`, TYPE.A)).then(
      (answer) => this.#store(label, headerRcode(answer) === RCODE.NOERROR, PROBE_CACHE_TTL_MS),
      () => this.#store(label, false, PROBE_FAILURE_TTL_MS),
    );
    this.#pending.set(label, pending);
    return pending;
  }

  #store(label: string, exists: boolean, ttlMs: number): boolean {
    this.#pending.delete(label);
    if (this.#cache.size >= MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(label, { exists, expiresMs: Date.now() + ttlMs });
    return exists;
  }
}
