// What an intercept is, as both ends of the tunnel see it: the laptop builds
// a spec from `kvpn intercept` flags and registers it with the router; the
// router matches each HTTP request against its filter. Pure: strings in,
// a spec or a reason out; a request's method, path and headers in, a verdict out.
//
//   whole:    no filter: every connection to the port goes to the laptop
//   personal: every condition must hold (headers exact, regexes anchored, path prefix)

/** Registration: `POST INTERCEPTS_PATH` with the spec as JSON in HEADER_INTERCEPT_SPEC. */
export const INTERCEPTS_PATH = '/v1/intercepts';
export const HEADER_INTERCEPT_SPEC = 'kvpn-intercept-spec';
/** On a parked `CONNECT 0.0.0.0:port` (with `kvpn-accept: tcp`): which intercept the stream serves. */
export const HEADER_INTERCEPT = 'kvpn-intercept';

export const MAX_FILTER_CONDITIONS = 16;
export const MAX_PATTERN_LENGTH = 256;

export interface HeaderEquals {
  /** Lowercase header name. */
  name: string;
  value: string;
}

export interface HeaderMatches {
  name: string;
  /** A JavaScript regular expression, matched against the whole value. */
  pattern: string;
}

export interface InterceptFilter {
  headers: HeaderEquals[];
  headerRegexes: HeaderMatches[];
  pathPrefix?: string | undefined;
}

export interface InterceptSpec {
  /** Unique per intercept (the laptop's name for it); [a-z0-9-], ≤ 63. */
  id: string;
  /** The router's listening port this intercept takes traffic from. */
  port: number;
  /** user@host of the laptop, for "held by …" answers. */
  owner: string;
  /** Absent: a whole intercept. */
  filter?: InterceptFilter | undefined;
  /**
   * false: the laptop shows no requests (its inspection page is off), so the
   * router records none for it. Absent means true (laptops before this field).
   */
  records?: boolean | undefined;
}

export class InterceptSpecError extends Error {}

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** `NAME=VALUE` from `--header` / `--header-regex`; the name is a header field name, case-insensitive. */
export function parseHeaderFlag(flag: string, raw: string): { name: string; value: string } {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new InterceptSpecError(`${flag} "${raw}" is not NAME=VALUE`);
  const name = raw.slice(0, eq).trim().toLowerCase();
  const value = raw.slice(eq + 1);
  if (!TOKEN.test(name)) throw new InterceptSpecError(`${flag} "${raw}": "${name}" is not a header name`);
  if (name.startsWith(':') || name === 'host') {
    throw new InterceptSpecError(`${flag} "${raw}": match on the path with --path-prefix, not on "${name}"`);
  }
  return { name, value };
}

/** A filter from flags; undefined when there is none (a whole intercept). */
export function filterFromFlags(flags: {
  headers?: readonly string[] | undefined;
  headerRegexes?: readonly string[] | undefined;
  pathPrefix?: string | undefined;
}): InterceptFilter | undefined {
  const headers = (flags.headers ?? []).map((h) => parseHeaderFlag('--header', h));
  const headerRegexes = (flags.headerRegexes ?? []).map((h) => {
    const { name, value } = parseHeaderFlag('--header-regex', h);
    return { name, pattern: value };
  });
  const filter: InterceptFilter = { headers, headerRegexes, pathPrefix: flags.pathPrefix };
  if (!headers.length && !headerRegexes.length && flags.pathPrefix === undefined) return undefined;
  return validateFilter(filter);
}

/** Checks a filter from either end (flags or a registration); returns it or throws InterceptSpecError. */
export function validateFilter(filter: InterceptFilter): InterceptFilter {
  const count = filter.headers.length + filter.headerRegexes.length + (filter.pathPrefix === undefined ? 0 : 1);
  if (count === 0) throw new InterceptSpecError('a filter needs at least one condition');
  if (count > MAX_FILTER_CONDITIONS) throw new InterceptSpecError(`at most ${MAX_FILTER_CONDITIONS} conditions`);
  for (const h of filter.headers) {
    if (!TOKEN.test(h.name)) throw new InterceptSpecError(`"${h.name}" is not a header name`);
    if (/[\r\n\0]/.test(h.value)) throw new InterceptSpecError(`the value for ${h.name} has a control character`);
  }
  for (const h of filter.headerRegexes) {
    if (!TOKEN.test(h.name)) throw new InterceptSpecError(`"${h.name}" is not a header name`);
    if (h.pattern.length > MAX_PATTERN_LENGTH)
      throw new InterceptSpecError(`the pattern for ${h.name} is longer than ${MAX_PATTERN_LENGTH} characters`);
    try {
      new RegExp(h.pattern);
    } catch (err) {
      throw new InterceptSpecError(`the pattern for ${h.name} is not a regular expression: ${(err as Error).message}`);
    }
  }
  if (filter.pathPrefix !== undefined && !/^\/[\x21-\x7e]*$/.test(filter.pathPrefix))
    throw new InterceptSpecError(`--path-prefix "${filter.pathPrefix}" must start with / and have no spaces`);
  return filter;
}

/** The spec from a registration header; throws InterceptSpecError on anything malformed. */
export function parseInterceptSpec(raw: string | undefined): InterceptSpec {
  if (!raw) throw new InterceptSpecError('no intercept spec');
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new InterceptSpecError('the intercept spec is not JSON');
  }
  const o = json as Partial<InterceptSpec>;
  if (typeof o !== 'object' || o === null) throw new InterceptSpecError('the intercept spec is not an object');
  if (typeof o.id !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(o.id))
    throw new InterceptSpecError('the intercept id must be [a-z0-9-], at most 63 characters');
  if (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 1 || o.port > 65535)
    throw new InterceptSpecError('the intercept port must be 1-65535');
  if (typeof o.owner !== 'string' || o.owner.length > 256) throw new InterceptSpecError('the owner must be a string');
  if (o.records !== undefined && typeof o.records !== 'boolean')
    throw new InterceptSpecError('records must be a boolean');
  const base = { id: o.id, port: o.port, owner: o.owner, ...(o.records === false ? { records: false } : {}) };
  if (o.filter === undefined || o.filter === null) return base;
  const f = o.filter as Partial<InterceptFilter>;
  const pairs = (list: unknown, second: 'value' | 'pattern'): { name: string; second: string }[] => {
    if (list === undefined) return [];
    if (!Array.isArray(list)) throw new InterceptSpecError('filter conditions must be lists');
    return list.map((e) => {
      if (typeof e?.name !== 'string' || typeof e?.[second] !== 'string')
        throw new InterceptSpecError(`a filter condition needs name and ${second}`);
      return { name: e.name.toLowerCase(), second: e[second] };
    });
  };
  if (f.pathPrefix !== undefined && typeof f.pathPrefix !== 'string')
    throw new InterceptSpecError('pathPrefix must be a string');
  const filter = validateFilter({
    headers: pairs(f.headers, 'value').map((p) => ({ name: p.name, value: p.second })),
    headerRegexes: pairs(f.headerRegexes, 'pattern').map((p) => ({ name: p.name, pattern: p.second })),
    pathPrefix: f.pathPrefix,
  });
  return { ...base, filter };
}

/** A filter, compiled once for the router's per-request matching. */
export interface CompiledFilter {
  matches(path: string, header: (name: string) => string | readonly string[] | undefined): boolean;
}

export function compileFilter(filter: InterceptFilter): CompiledFilter {
  const regexes = filter.headerRegexes.map((h) => ({ name: h.name, re: new RegExp(`^(?:${h.pattern})$`) }));
  const { headers, pathPrefix } = filter;
  const any = (v: string | readonly string[] | undefined, test: (s: string) => boolean): boolean =>
    v === undefined ? false : typeof v === 'string' ? test(v) : v.some(test);
  return {
    matches(path, header) {
      if (pathPrefix !== undefined && !path.startsWith(pathPrefix)) return false;
      for (const h of headers) if (!any(header(h.name), (v) => v === h.value)) return false;
      for (const h of regexes) if (!any(header(h.name), (v) => h.re.test(v))) return false;
      return true;
    },
  };
}

/** Two filters select the same requests when they are the same conditions (order aside). */
export function sameFilter(a: InterceptFilter | undefined, b: InterceptFilter | undefined): boolean {
  return canonicalFilter(a) === canonicalFilter(b);
}

/** A stable text for a filter: what `kvpn intercepts` shows and what names an intercept's lock. */
export function canonicalFilter(f: InterceptFilter | undefined): string {
  if (!f) return '';
  const parts = [
    ...f.headers.map((h) => `${h.name}=${h.value}`).sort(),
    ...f.headerRegexes.map((h) => `${h.name}~${h.pattern}`).sort(),
  ];
  if (f.pathPrefix !== undefined) parts.push(`path^${f.pathPrefix}`);
  return parts.join(' ');
}

// What the router reports of each request it routes for an intercept, as one
// `{"request":{…}}` line on the intercept's registration stream, sent once the
// request is finished. The laptop shows them and may replay one locally.

/** Kept of a request, so that a record line stays below MAX_RECORD_LINE_BYTES. */
export const MAX_RECORD_PATH_CHARS = 2048;
export const MAX_RECORD_HEADER_FIELDS = 64;
export const MAX_RECORD_HEADER_BYTES = 8 * 1024;
export const MAX_RECORD_BODY_BYTES = 16 * 1024;
/** Longest line on a registration stream; the router shrinks a record that would be longer. */
export const MAX_RECORD_LINE_BYTES = 64 * 1024;

/** Why a matched request went to the pods: nothing parked in time (or the intercept went), or too many waiting. */
export type FailedOpenWhy = 'failed-open' | 'full';

export interface InterceptedRequest {
  /** Per registration, from 1, in the order the heads arrived (a gap is a record dropped). */
  seq: number;
  /** ms since the epoch: the router received the request head. */
  at: number;
  protocol: 'http/1.1' | 'h2';
  method: string;
  /** With the query; cut at MAX_RECORD_PATH_CHARS. */
  path: string;
  /** Host / :authority. */
  authority: string;
  to: 'laptop' | 'pods';
  /** For 'pods'. */
  why?: FailedOpenWhy;
  /** The intercept's filter as users see it (canonicalFilter), 'whole' for none. */
  filter: string;
  /** As received, lower-case names, pseudo-headers left out; bounded by MAX_RECORD_HEADER_*. */
  headers: [string, string][];
  headersTruncated?: boolean;
  /** base64 of the body's first MAX_RECORD_BODY_BYTES. */
  body?: string;
  /** The whole body's length as seen. */
  bodyBytes: number;
  bodyTruncated?: boolean;
  /** The status the client got (the router's own 502 included). */
  status?: number;
  /** Head received to response end (or error). */
  durationMs?: number;
  error?: string;
}

/** A record from a registration line, checked field by field; undefined for anything malformed. */
export function parseInterceptedRequest(value: unknown): InterceptedRequest | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const o = value as Record<string, unknown>;
  const str = (v: unknown): v is string => typeof v === 'string';
  const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const ms = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  const bool = (v: unknown): v is boolean => typeof v === 'boolean';
  const opt = (v: unknown, ok: (v: unknown) => boolean): boolean => v === undefined || ok(v);
  const headers = o.headers;
  if (
    !count(o.seq) ||
    o.seq < 1 ||
    !ms(o.at) ||
    (o.protocol !== 'http/1.1' && o.protocol !== 'h2') ||
    !str(o.method) ||
    !str(o.path) ||
    !str(o.authority) ||
    (o.to !== 'laptop' && o.to !== 'pods') ||
    (o.why !== undefined && o.why !== 'failed-open' && o.why !== 'full') ||
    !str(o.filter) ||
    !Array.isArray(headers) ||
    !headers.every((h) => Array.isArray(h) && h.length === 2 && str(h[0]) && str(h[1])) ||
    !opt(o.headersTruncated, bool) ||
    !opt(o.body, str) ||
    !count(o.bodyBytes) ||
    !opt(o.bodyTruncated, bool) ||
    !opt(o.status, count) ||
    !opt(o.durationMs, ms) ||
    !opt(o.error, str)
  )
    return undefined;
  // Only the known fields, copied: what the router adds later is not passed on unchecked.
  const c = o as unknown as InterceptedRequest;
  const r: InterceptedRequest = {
    seq: c.seq,
    at: c.at,
    protocol: c.protocol,
    method: c.method,
    path: c.path,
    authority: c.authority,
    to: c.to,
    filter: c.filter,
    headers: c.headers.map(([n, v]) => [n, v]),
    bodyBytes: c.bodyBytes,
  };
  if (c.why !== undefined) r.why = c.why;
  if (c.headersTruncated !== undefined) r.headersTruncated = c.headersTruncated;
  if (c.body !== undefined) r.body = c.body;
  if (c.bodyTruncated !== undefined) r.bodyTruncated = c.bodyTruncated;
  if (c.status !== undefined) r.status = c.status;
  if (c.durationMs !== undefined) r.durationMs = c.durationMs;
  if (c.error !== undefined) r.error = c.error;
  return r;
}
