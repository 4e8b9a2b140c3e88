// Watch streams: one JSON event per line over a chunked response, resuming
// after a resourceVersion from the store's history, 410 Expired (as an
// ERROR event) when that history is gone, bookmarks when asked for.
import type { ServerResponse } from 'node:http';
import type { KObject, StoreEvent } from './objects.js';
import { groupVersion, type ResourceDef, resourceKey } from './resources.js';
import type { Matcher } from './selectors.js';
import { badRequest, gone } from './status.js';
import type { Store } from './store.js';
import { type IncludeObject, toTable } from './tables.js';

const BOOKMARK_INTERVAL_MS = 15_000;
/** A watcher this far behind is closed, as the real watch cache does. */
const WATCH_BUFFER_LIMIT_BYTES = 32 * 1024 * 1024;

export interface WatchOptions {
  def: ResourceDef;
  namespace: string | undefined;
  matches: Matcher;
  resourceVersion: string | null;
  timeoutSeconds: number | undefined;
  bookmarks: boolean;
  sendInitialEvents: boolean;
  /** kubectl get -w asks for each event's object as a one-row Table. */
  table?: { version: string; include: IncludeObject };
}

function withType(def: ResourceDef, o: KObject): KObject {
  return { apiVersion: groupVersion(def), kind: def.kind, ...o };
}

export function serveWatch(store: Store, res: ServerResponse, opts: WatchOptions): void {
  const key = resourceKey(opts.def);
  const inScope = (o: KObject): boolean =>
    (opts.namespace === undefined || o.metadata.namespace === opts.namespace) && opts.matches(o);

  let closed = false;
  let bookmarkTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;
  const write = (type: string, raw: unknown): void => {
    if (closed) return;
    const o = raw as KObject;
    const object =
      opts.table && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')
        ? toTable(
            opts.def.kind,
            [o],
            { resourceVersion: o.metadata?.resourceVersion },
            opts.table.version,
            opts.table.include,
          )
        : raw;
    res.write(`${JSON.stringify({ type, object })}\n`);
    if (res.writableLength > WATCH_BUFFER_LIMIT_BYTES) finish();
  };
  const send = (e: StoreEvent): void => {
    if (e.key !== key) return;
    const now = inScope(e.object);
    const before = e.prev ? inScope(e.prev) : false;
    if (e.type === 'MODIFIED' && now && !before) write('ADDED', withType(opts.def, e.object));
    else if (e.type === 'MODIFIED' && !now && before) write('DELETED', withType(opts.def, e.object));
    else if (now) write(e.type, withType(opts.def, e.object));
  };
  const bookmark = (extra?: Record<string, string>): void => {
    const metadata: Record<string, unknown> = { resourceVersion: String(store.resourceVersion) };
    if (extra) metadata.annotations = extra;
    write('BOOKMARK', { kind: opts.def.kind, apiVersion: groupVersion(opts.def), metadata });
  };

  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    'Transfer-Encoding': 'chunked',
  });
  res.flushHeaders();

  const rv = opts.resourceVersion;
  const unsubscribe = store.subscribe(send);
  if (rv === null || rv === '' || rv === '0' || opts.sendInitialEvents) {
    for (const o of store.list(key, opts.namespace)) if (inScope(o)) write('ADDED', withType(opts.def, o));
    if (opts.sendInitialEvents) bookmark({ 'k8s.io/initial-events-end': 'true' });
  } else {
    const n = Number(rv);
    if (!Number.isInteger(n)) {
      write('ERROR', badRequest(`invalid resource version: ${rv}`).toStatus());
      finish();
    } else {
      const past = store.since(key, n);
      if (past === 'expired') {
        write('ERROR', gone(`too old resource version: ${n} (${store.compactedRv})`).toStatus());
        finish();
      } else for (const e of past) send(e);
    }
  }

  if (closed) return;
  if (opts.bookmarks) bookmarkTimer = setInterval(() => bookmark(), BOOKMARK_INTERVAL_MS);
  if (opts.timeoutSeconds !== undefined) timeoutTimer = setTimeout(finish, Math.max(0, opts.timeoutSeconds) * 1000);
  res.on('close', finish);

  function finish(): void {
    if (closed) return;
    closed = true;
    unsubscribe();
    if (bookmarkTimer) clearInterval(bookmarkTimer);
    if (timeoutTimer) clearTimeout(timeoutTimer);
    if (!res.writableEnded) res.end();
  }
}
