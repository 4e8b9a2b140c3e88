// Who may use the inspection page: it shows cluster traffic and can send
// requests to the local process, so only this machine's browser, holding
// this session's secret, on our own origin.
//   Host      must be 127.0.0.1:<port> or localhost:<port> (a rebinding name is refused)
//   secret    ?token=<secret> once, exchanged for an HttpOnly SameSite=Strict cookie
//   Origin    a state-changing request must come from our own origin
// Pure: a request's few fields in, a decision out.
import { createHash, timingSafeEqual } from 'node:crypto';

export interface GuardRequest {
  method: string;
  /** The request target: path and query. */
  url: string;
  host: string | undefined;
  origin: string | undefined;
  cookie: string | undefined;
  /** Sec-Fetch-Site, where the browser sends it. */
  fetchSite?: string | undefined;
}

export type GuardDecision =
  | { kind: 'allow' }
  /** The secret was in the URL: set the cookie and send the browser to the same place without it. */
  | { kind: 'login'; setCookie: string; location: string }
  | { kind: 'deny'; status: number; why: string };

export class Guard {
  readonly port: number;
  readonly cookieName: string;
  readonly #secretHash: Buffer;
  readonly #origins: Set<string>;
  readonly #hosts: Set<string>;

  constructor(port: number, secret: string) {
    this.port = port;
    // Cookies are not kept per port: each session's page has its own name.
    this.cookieName = `kvpn_ui_${port}`;
    this.#secretHash = digest(secret);
    this.#hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
    this.#origins = new Set([...this.#hosts].map((h) => `http://${h}`));
  }

  check(request: GuardRequest): GuardDecision {
    if (!request.host || !this.#hosts.has(request.host.toLowerCase()))
      return { kind: 'deny', status: 421, why: `this page answers only to 127.0.0.1:${this.port}` };
    const url = new URL(request.url, 'http://x');
    const token = url.searchParams.get('token');
    if (token !== null) {
      if (!this.#matches(token))
        return { kind: 'deny', status: 401, why: 'wrong secret: open the address `kvpn ui` prints' };
      url.searchParams.delete('token');
      return {
        kind: 'login',
        setCookie: `${this.cookieName}=${token}; Path=/; HttpOnly; SameSite=Strict`,
        location: `${url.pathname}${url.search}`,
      };
    }
    const cookie = cookieValue(request.cookie, this.cookieName);
    if (cookie === undefined || !this.#matches(cookie))
      return { kind: 'deny', status: 401, why: 'no secret: open the address `kvpn ui` prints' };
    const changes = !['GET', 'HEAD'].includes(request.method);
    if (changes && (!request.origin || !this.#origins.has(request.origin.toLowerCase())))
      return { kind: 'deny', status: 403, why: 'cross-origin request refused' };
    if (changes && request.fetchSite && request.fetchSite !== 'same-origin')
      return { kind: 'deny', status: 403, why: 'cross-site request refused' };
    return { kind: 'allow' };
  }

  #matches(candidate: string): boolean {
    return timingSafeEqual(digest(candidate), this.#secretHash);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
