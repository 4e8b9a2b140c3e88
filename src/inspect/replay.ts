// Replaying a captured request against the intercept's local process, as
// HTTP/1.1 to 127.0.0.1:localPort: the method, path, headers and body the
// router saw. A body the router could not keep whole is not replayed (the
// request would not be the same one).
import http from 'node:http';
import { KvpnError } from '../errors.js';
import type { ReplayResult, RequestEntry } from './request-log.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'http2-settings',
]);
const REPLAY_TIMEOUT_MS = 30_000;
const MAX_BODY_SHOWN = 64 * 1024;

export class ReplayError extends KvpnError {
  constructor(message: string, remedy?: string) {
    super('KVPN_ERR_REPLAY', 'user', message, remedy ? { remedy } : {});
  }
}

export function replayable(entry: RequestEntry): void {
  const r = entry.request;
  if (r.bodyTruncated) throw new ReplayError(`the request's body (${r.bodyBytes} bytes) was not captured whole`);
  if (r.method === 'CONNECT' || r.headers.some(([name]) => name === 'upgrade'))
    throw new ReplayError('an upgrade or CONNECT request cannot be replayed');
}

/** Sends the request again to the local process; resolves with what it answered (an error is a result too). */
export function replay(entry: RequestEntry, now = Date.now): Promise<ReplayResult> {
  replayable(entry);
  const r = entry.request;
  const body = r.body ? Buffer.from(r.body, 'base64') : Buffer.alloc(0);
  const headers: [string, string][] = r.headers.filter(([name]) => !name.startsWith(':') && !HOP_BY_HOP.has(name));
  if (!headers.some(([name]) => name === 'host') && r.authority) headers.push(['host', r.authority]);
  if (body.length || !['GET', 'HEAD', 'DELETE', 'OPTIONS'].includes(r.method))
    headers.push(['content-length', String(body.length)]);
  const at = now();
  const started = performance.now();
  return new Promise((resolve) => {
    const finish = (result: Omit<ReplayResult, 'at' | 'durationMs'>): void =>
      resolve({ at, durationMs: Math.round(performance.now() - started), ...result });
    const request = http.request({
      host: '127.0.0.1',
      port: entry.intercept.localPort,
      method: r.method,
      path: r.path.startsWith('/') ? r.path : `/${r.path}`,
      headers: headers.flat(),
      agent: false,
      timeout: REPLAY_TIMEOUT_MS,
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${REPLAY_TIMEOUT_MS / 1000} s`)));
    request.on('error', (err) => finish({ status: null, error: err.message, headers: [], body: '', bodyBytes: 0 }));
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      let total = 0;
      response.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (kept < MAX_BODY_SHOWN) {
          chunks.push(chunk.subarray(0, MAX_BODY_SHOWN - kept));
          kept += Math.min(chunk.length, MAX_BODY_SHOWN - kept);
        }
      });
      const done = (error: string | null): void =>
        finish({
          status: response.statusCode ?? null,
          error,
          headers: pairs(response.rawHeaders),
          body: Buffer.concat(chunks).toString('utf8'),
          bodyBytes: total,
        });
      response.on('end', () => done(null));
      response.on('error', (err) => done(err.message));
    });
    request.end(body);
  });
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([(raw[i] ?? '').toLowerCase(), raw[i + 1] ?? '']);
  return out;
}
