// `kvpn up` to the first successful curl, as a user would time it: the
// installed CLI (dist/) runs `up --context staging` in the test world's
// laptop namespace, then curl fetches a Service by name. Each round ends
// with `kvpn down`. Reports the wall time of `up`, of the first curl after
// it, their sum, and the session's own start time (the daemon's steps,
// without process start-up), plus the daemon's RSS.
//   npm run bench -- kvpn-up [--rounds N] [--json]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from '../test/cluster/index.js';
import { type BenchReport, percentile } from './report.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MAIN = join(ROOT, 'dist/src/cli/main.js');
export const TARGET_MS = 5000;

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

export async function run(args: string[]): Promise<BenchReport> {
  const rounds = flag(args, '--rounds', 5);
  if (!existsSync(MAIN) || !existsSync(join(ROOT, 'dist/relay/relay.js'))) {
    const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (built.status !== 0) throw new Error('npm run build failed');
  }
  const cluster = await startCluster();
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-bench-up-'));
  const env = {
    ...process.env,
    KUBECONFIG: cluster.kubeconfigPath,
    KVPN_STATE_DIR: join(dir, 'state'),
    KVPN_RUNTIME_DIR: join(dir, 'run'),
    NODE_OPTIONS: '',
  };
  const upMs: number[] = [];
  const curlMs: number[] = [];
  const totalMs: number[] = [];
  const sessionMs: number[] = [];
  const rssMiB: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      const up = await cluster.exec(process.execPath, [MAIN, 'up', '--context', 'staging'], { env, timeoutMs: 60_000 });
      const t1 = performance.now();
      if (up.code !== 0) throw new Error(`kvpn up failed: ${up.stderr}`);
      const curl = await cluster.exec('curl', ['-sS', '-m', '10', 'http://echo.default.svc.cluster.local/'], {
        timeoutMs: 15_000,
      });
      const t2 = performance.now();
      if (curl.code !== 0 || !curl.stdout.startsWith('echo-')) throw new Error(`curl failed: ${curl.stderr}`);
      const status = JSON.parse((await cluster.exec(process.execPath, [MAIN, 'status', '--json'], { env })).stdout) as {
        sessions: { startupMs: number; pid: number }[];
      };
      const s = status.sessions[0];
      if (s) {
        sessionMs.push(s.startupMs);
        const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.pid}/status`, 'utf8'))?.[1];
        if (rss) rssMiB.push(Number(rss) / 1024);
      }
      upMs.push(t1 - t0);
      curlMs.push(t2 - t1);
      totalMs.push(t2 - t0);
      const down = await cluster.exec(process.execPath, [MAIN, 'down'], { env, timeoutMs: 60_000 });
      if (down.code !== 0) throw new Error(`kvpn down failed: ${down.stderr}`);
    }
  } finally {
    await cluster.exec(process.execPath, [MAIN, 'down', '--all'], { env }).catch(() => undefined);
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const stats = (xs: number[]) => ({ median: percentile(xs, 50), min: Math.min(...xs), max: Math.max(...xs) });
  const row = (name: string, xs: number[], unit = 'ms') => {
    const s = stats(xs);
    return [name, Math.round(s.median), Math.round(s.min), Math.round(s.max), unit];
  };
  const total = stats(totalMs);
  return {
    name: 'kvpn-up',
    table: {
      columns: ['measure', 'median', 'min', 'max', 'unit'],
      rows: [
        row('kvpn up (CLI wall time)', upMs),
        row('first curl after up', curlMs),
        row('up → first successful curl', totalMs),
        row('session start (daemon steps only)', sessionMs),
        row('daemon RSS after one curl', rssMiB, 'MiB'),
      ],
    },
    figures: {
      rounds,
      upMs: stats(upMs),
      firstCurlMs: stats(curlMs),
      upToFirstCurlMs: total,
      sessionStartMs: stats(sessionMs),
      daemonRssMiB: stats(rssMiB),
      targetMs: TARGET_MS,
      meetsTarget: total.median < TARGET_MS,
    },
    notes: [
      `Target: up to first successful curl under ${TARGET_MS} ms (median ${Math.round(total.median)} ms: ${total.median < TARGET_MS ? 'met' : 'NOT met'}).`,
      "Wall times include starting node twice (the CLI and the daemon); the session start is the daemon's own steps.",
    ],
  };
}
