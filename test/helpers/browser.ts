// Debian's chromium driven by playwright-core, optionally inside a network
// namespace (the test world's laptop), where the inspection page listens on
// that namespace's 127.0.0.1. Playwright talks to it over a pipe (fds 3, 4),
// which `ip netns exec` passes on.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env.KVPN_CHROMIUM ?? '/usr/bin/chromium';

/** Why browser tests cannot run here, or false. */
export function noBrowser(): string | false {
  return existsSync(CHROMIUM) ? false : `no chromium at ${CHROMIUM} (apt-get install chromium)`;
}

export async function launchBrowser(options: { netns?: string } = {}): Promise<Browser> {
  let executablePath = CHROMIUM;
  let dir: string | undefined;
  if (options.netns) {
    dir = mkdtempSync(join(tmpdir(), 'kvpn-browser-'));
    executablePath = join(dir, 'chromium-in-netns');
    writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${options.netns} ${CHROMIUM} "$@"\n`);
    chmodSync(executablePath, 0o755);
  }
  const browser = await chromium.launch({
    executablePath,
    // Root cannot use chromium's sandbox; the pages are our own.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  if (dir) {
    const remove = dir;
    browser.on('disconnected', () => rmSync(remove, { recursive: true, force: true }));
  }
  return browser;
}
