// The browser side of `npm run bench -- ui`: Debian's chromium in the test
// world's laptop namespace (test/helpers/browser.ts), logged in to a kvpn
// session's inspection page with its secret URL, and
//   renderConnections()  a fresh tab navigating to /#connections, timed to
//                        the page's own mark of its first draw
//                        (body.dataset.drawn = Date.now());
//   watch()              a tab kept on the Connections view, which refetches
//                        on every change the daemon announces; counts its
//                        fetches of /api/connections.
import { readFileSync, readlinkSync } from 'node:fs';
import { launchBrowser } from '../test/helpers/browser.js';
import { processTree } from './compare/proc.js';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;
type Context = Awaited<ReturnType<Browser['newContext']>>;
type Page = Awaited<ReturnType<Context['newPage']>>;

const VIEWPORT = { width: 1400, height: 900 };
const DRAW_TIMEOUT_MS = 30_000;

/** The little of the DOM that drawn() reads (tsconfig's lib is ES2023 only: no DOM types of its own). */
interface PageScope {
  document: {
    body: { dataset: Record<string, string | undefined> } | null;
    querySelectorAll(selector: string): { length: number };
    getElementById(id: string): { textContent: string | null } | null;
  };
  performance: {
    timeOrigin: number;
    getEntriesByType(
      type: 'resource',
    ): { name: string; startTime: number; responseEnd: number; encodedBodySize: number }[];
  };
}

/**
 * Runs in the page (a function, not text: the page's CSP forbids eval):
 * false until the Connections table is drawn, then what the page knows.
 */
function drawn(): false | (Omit<Render, 'ms'> & { drawn: number }) {
  const { document, performance } = globalThis as unknown as PageScope;
  const at = Number(document.body?.dataset.drawn);
  const rows = document.querySelectorAll('#connections-table tbody tr').length;
  if (!(at > 0) || rows === 0) return false;
  const api = performance
    .getEntriesByType('resource')
    .filter((e) => e.name.includes('/api/connections'))
    .pop();
  return {
    drawn: at,
    sincePageStartMs: at - performance.timeOrigin,
    rows,
    counts: document.getElementById('connections-counts')?.textContent ?? '',
    fetchStartMs: api ? api.startTime : null,
    fetchMs: api ? api.responseEnd - api.startTime : null,
    jsonBytes: api ? api.encodedBodySize : null,
    drawnAfterResponseMs: api ? at - (performance.timeOrigin + api.responseEnd) : null,
  };
}

export interface Render {
  /** From asking a new tab for /#connections to the page's mark of its first draw of the table. */
  ms: number;
  /** The same from the page's own navigation start (without opening the tab). */
  sincePageStartMs: number;
  rows: number;
  /** The page's counts line ("N matching, 500 shown · N recorded, N open"). */
  counts: string;
  /** The page's own fetch of /api/connections (resource timing): when it began after the navigation, how long it took. */
  fetchStartMs: number | null;
  fetchMs: number | null;
  jsonBytes: number | null;
  /** From the end of that response to the mark: parsing and drawing. */
  drawnAfterResponseMs: number | null;
}

export interface Watcher {
  /** Fetches of /api/connections since the tab opened. */
  fetches(): number;
  close(): Promise<void>;
}

/** What a Chromium process is: its --type (renderer, gpu-process, utility, zygote), or browser. */
export type ChromiumRole = string;

/**
 * Chromium's processes, the browser this process launched and its children
 * (tabs, GPU, network), with their role; recognised by their executable,
 * since chromium rewrites its children's command lines into one string.
 */
function chromiumProcesses(): { pid: number; role: ChromiumRole }[] {
  const out: { pid: number; role: ChromiumRole }[] = [];
  for (const pid of processTree(process.pid)) {
    try {
      if (!readlinkSync(`/proc/${pid}/exe`).endsWith('/chromium')) continue;
      const role = /--type=([\w-]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1] ?? 'browser';
      out.push({ pid, role });
    } catch {}
  }
  return out;
}

export class UiBrowser {
  readonly origin: string;
  /** `name=value` of the session cookie, for clients other than this browser (curl). */
  readonly cookie: string;
  /** Uncaught errors and console errors of any tab. */
  readonly pageErrors: string[];
  readonly #browser: Browser;
  readonly #context: Context;

  private constructor(browser: Browser, context: Context, origin: string, cookie: string, pageErrors: string[]) {
    this.#browser = browser;
    this.#context = context;
    this.origin = origin;
    this.cookie = cookie;
    this.pageErrors = pageErrors;
  }

  /** Chromium in `netns`, logged in through `url` (the session's `?token=` address). */
  static async open(netns: string, url: string): Promise<UiBrowser> {
    const before = new Set(process.listeners('SIGINT'));
    const browser = await launchBrowser({ netns });
    // Playwright's own Ctrl-C handler exits the process as soon as its
    // browsers are closed, cutting the caller's cleanup short (kvpn down,
    // the world): the caller closes this browser itself.
    for (const listener of process.listeners('SIGINT')) if (!before.has(listener)) process.off('SIGINT', listener);
    try {
      const context = await browser.newContext({ viewport: VIEWPORT });
      const pageErrors: string[] = [];
      context.on('page', (page) => {
        page.on('pageerror', (err) => pageErrors.push(err.message));
        page.on('console', (m) => {
          if (m.type() === 'error') pageErrors.push(m.text());
        });
      });
      const origin = new URL(url).origin;
      const page = await context.newPage();
      await page.goto(url);
      if (page.url() !== `${origin}/`) throw new Error(`logging in led to ${page.url()}, not ${origin}/`);
      await page.close();
      const cookie = (await context.cookies(origin))[0];
      if (!cookie) throw new Error('the secret URL set no cookie');
      return new UiBrowser(browser, context, origin, `${cookie.name}=${cookie.value}`, pageErrors);
    } catch (err) {
      await browser.close();
      throw err;
    }
  }

  async renderConnections(): Promise<Render> {
    const page = await this.#context.newPage();
    try {
      const t0 = Date.now();
      await page.goto(`${this.origin}/#connections`, { waitUntil: 'commit' });
      const drawn = await waitDrawn(page);
      return { ms: drawn.drawn - t0, ...drawn };
    } finally {
      await page.close();
    }
  }

  async watch(): Promise<Watcher> {
    const page = await this.#context.newPage();
    let fetches = 0;
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/connections') fetches++;
    });
    await page.goto(`${this.origin}/#connections`);
    await waitDrawn(page);
    return { fetches: () => fetches, close: () => page.close() };
  }

  /** A tab on about:blank (an open tab's own cost); the returned function closes it. */
  async blankTab(): Promise<() => Promise<void>> {
    const page = await this.#context.newPage();
    await page.goto('about:blank');
    return () => page.close();
  }

  /** Chromium's processes now (those of one role, if given), for CPU and memory (bench/compare/proc.ts). */
  pids(role?: ChromiumRole): number[] {
    return chromiumProcesses()
      .filter((p) => role === undefined || p.role === role)
      .map((p) => p.pid);
  }

  /** Idempotent. */
  close(): Promise<void> {
    return this.#browser.close();
  }
}

async function waitDrawn(page: Page): Promise<Omit<Render, 'ms'> & { drawn: number }> {
  const handle = await page.waitForFunction(drawn, undefined, { timeout: DRAW_TIMEOUT_MS });
  return (await handle.jsonValue()) as Omit<Render, 'ms'> & { drawn: number };
}
