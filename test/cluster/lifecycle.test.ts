// Worlds never outlive their owner: a test process that dies takes its
// world with it, and `npm run cluster -- down` removes a crashed world's
// leftovers (namespaces, /etc/netns files, processes, directory) by prefix.
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { launchWorld, listWorlds } from './launcher.js';

const LOADER = fileURLToPath(new URL('../../scripts/ts-loader.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const INDEX = fileURLToPath(new URL('./index.ts', import.meta.url));

async function leftovers(id: string): Promise<string[]> {
  const netns = (await readdir('/run/netns').catch(() => [])).filter((n) => n.startsWith(`${id}-`));
  const etc = (await readdir('/etc/netns').catch(() => []))
    .filter((n) => n.startsWith(`${id}-`))
    .map((n) => `/etc/netns/${n}`);
  const dir = (await readdir('/tmp/kvpn-cluster').catch(() => []))
    .filter((n) => n === id)
    .map((n) => `/tmp/kvpn-cluster/${n}`);
  return [...netns, ...etc, ...dir];
}

async function until(fn: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return fn();
}

t.test('a test process killed mid-test: its world removes itself', async (t) => {
  const script = `import { startCluster } from ${JSON.stringify(INDEX)};\nconst c = await startCluster();\nconsole.log(c.id, c.state.daemonPid);\nsetInterval(() => {}, 1000);\n`;
  const child = spawn(process.execPath, ['--import', LOADER, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const [id, pid] = await new Promise<string[]>((resolve) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim().split(' '));
    });
  });
  t.ok((await leftovers(id ?? '')).length > 5, 'the world exists');
  child.kill('SIGKILL');
  const daemonGone = async (): Promise<boolean> => {
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch {
      return true;
    }
  };
  t.ok(
    await until(async () => (await leftovers(id ?? '')).length === 0 && (await daemonGone()), 15_000),
    'everything is gone',
  );
  t.same(await leftovers(id ?? ''), []);
  t.ok(await daemonGone(), 'the daemon exited');
});

t.test('down removes a crashed world by prefix', async (t) => {
  const { state, daemon } = await launchWorld({ owner: 'cli' });
  daemon.stdout?.destroy();
  const pods = await readdir('/run/netns').then((ns) => ns.filter((n) => n.startsWith(`${state.id}-pod`)));
  t.ok(pods.length >= 9, 'pods are up');
  process.kill(state.daemonPid, 'SIGKILL');
  t.ok(
    await until(async () => (await listWorlds()).find((w) => w.id === state.id)?.alive === false, 5000),
    'listed as dead',
  );
  t.ok((await leftovers(state.id)).length > 5, 'a crash leaves namespaces behind');
  const down = spawn(process.execPath, ['--import', LOADER, CLI, 'down', state.id], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  down.stdout.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => down.on('exit', (c) => r(c)));
  t.equal(code, 0);
  t.match(out, new RegExp(`removed world ${state.id}`));
  t.same(await leftovers(state.id), [], 'nothing left');
});
