// `npm run bench -- intercept [--requests N] [--seconds S] [--mib N] [--rounds N] [--json]`
//
// `kvpn intercept` on the real Kubernetes world, measured from a pod (node in
// the echo pod, through cluster DNS and kube-proxy):
//   1. latency of requests that are NOT intercepted: N sequential keep-alive
//      GETs to echo:80, straight to the pods (before any intercept) and through
//      the router (a personal intercept for another header is active): p50/p99,
//      and what the router adds;
//   2. requests/s through the router: 16 keep-alive clients for S seconds, not matching;
//   3. bulk of a whole intercept through echo:80: the pod uploads N MiB to the
//      laptop's server, then downloads N MiB from it (MB/s each way).
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Cluster, startCluster } from '../test/cluster/index.js';
import { type BenchReport, percentile } from './report.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MAIN = join(ROOT, 'dist/src/cli/main.js');
const LOCAL_PORT = 8080;
const URL_HOST = 'echo.default.svc.cluster.local';

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

/** The laptop's server: GET /bytes/N answers N bytes, anything else "laptop". */
const LAPTOP_SERVER = `
const chunk = Buffer.alloc(1048576, 0x62);
require('node:http').createServer((req, res) => {
  if (req.method === 'POST') { let n = 0; req.on('data', (d) => { n += d.length; }); req.on('end', () => res.end(String(n))); return; }
  const m = /^\\/bytes\\/(\\d+)$/.exec(req.url);
  if (!m) { res.end('laptop\\n'); return; }
  let left = Number(m[1]);
  res.writeHead(200, { 'content-length': String(left) });
  const pump = () => { while (left > 0) { const n = Math.min(left, chunk.length); left -= n;
    if (!res.write(chunk.subarray(0, n))) return res.once('drain', pump); } res.end(); };
  pump();
}).listen(${LOCAL_PORT}, '127.0.0.1', () => console.log('listening'));`;

/** In the pod: sequential latency, then req/s with 16 clients; one JSON line. */
function requestsScript(requests: number, seconds: number): string {
  return `
const http = require('node:http');
const get = (agent) => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint();
  http.get({ host: '${URL_HOST}', port: 80, path: '/', agent, headers: { 'x-dev': 'nobody' } }, (res) => {
    res.resume(); res.on('end', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
  }).on('error', reject);
});
(async () => {
  const one = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < 50; i++) await get(one);
  const lat = [];
  for (let i = 0; i < ${requests}; i++) lat.push(await get(one));
  const many = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let done = 0; const end = Date.now() + ${seconds * 1000};
  await Promise.all(Array.from({ length: 16 }, async () => { while (Date.now() < end) { await get(many); done++; } }));
  console.log(JSON.stringify({ lat, perSecond: done / ${seconds} }));
  one.destroy(); many.destroy();
})().catch((e) => { console.error(String(e)); process.exit(1); });`;
}

/** In the pod: N MiB uploaded to the laptop (POST, the laptop answers the count), then N MiB downloaded. */
function bulkScript(mib: number): string {
  return `
const http = require('node:http');
const total = ${mib * 1048576};
const fail = (e) => { console.error(String(e)); process.exit(1); };
const upload = () => new Promise((resolve) => {
  const t0 = process.hrtime.bigint(), chunk = Buffer.alloc(1048576, 0x61);
  const req = http.request({ host: '${URL_HOST}', port: 80, path: '/sink', method: 'POST',
    headers: { 'content-length': String(total) } }, (res) => {
    let body = ''; res.on('data', (d) => { body += d; });
    res.on('end', () => Number(body) === total ? resolve(Number(process.hrtime.bigint() - t0) / 1e9) : fail('sink got ' + body));
  });
  req.on('error', fail);
  let sent = 0;
  const pump = () => { while (sent < ${mib}) { sent++; if (!req.write(chunk)) return req.once('drain', pump); } req.end(); };
  pump();
});
const download = () => new Promise((resolve) => {
  const t0 = process.hrtime.bigint(); let got = 0;
  http.get({ host: '${URL_HOST}', port: 80, path: '/bytes/' + total }, (res) => {
    res.on('data', (d) => { got += d.length; });
    res.on('end', () => got === total ? resolve(Number(process.hrtime.bigint() - t0) / 1e9) : fail('got ' + got));
  }).on('error', fail);
});
(async () => { const up = await upload(); const down = await download(); console.log(JSON.stringify({ up, down })); })();`;
}

async function inPod<T>(cluster: Cluster, pod: string, script: string): Promise<T> {
  const r = await cluster.kubectl(['exec', pod, '--', 'node', '-e', script], { context: 'admin', timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`client in ${pod}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Requests {
  p50: number;
  p99: number;
  perSecond: number;
}

async function requestsRound(cluster: Cluster, pod: string, requests: number, seconds: number): Promise<Requests> {
  const o = await inPod<{ lat: number[]; perSecond: number }>(cluster, pod, requestsScript(requests, seconds));
  return { p50: percentile(o.lat, 50), p99: percentile(o.lat, 99), perSecond: o.perSecond };
}

export async function run(args: string[]): Promise<BenchReport> {
  const requests = flag(args, '--requests', 2000);
  const seconds = flag(args, '--seconds', 5);
  const mib = flag(args, '--mib', 256);
  const rounds = flag(args, '--rounds', 3);
  if (!existsSync(MAIN) || !existsSync(join(ROOT, 'dist/relay/relay.js'))) {
    const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (built.status !== 0) throw new Error('npm run build failed');
  }
  const cluster = await startCluster({ kind: 'real' });
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-bench-intercept-'));
  const env = {
    ...process.env,
    KUBECONFIG: cluster.kubeconfigPath,
    KVPN_STATE_DIR: join(dir, 'state'),
    KVPN_RUNTIME_DIR: join(dir, 'run'),
    NODE_OPTIONS: '',
  };
  const kvpn = async (argv: string[]) => {
    const r = await cluster.exec(process.execPath, [MAIN, ...argv], { env, timeoutMs: 240_000 });
    if (r.code !== 0) throw new Error(`kvpn ${argv.join(' ')}: ${r.stderr}`);
  };
  const laptop = cluster.spawn(process.execPath, ['-e', LAPTOP_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const straight: Requests[] = [];
  const routed: Requests[] = [];
  const toLaptop: number[] = [];
  const fromLaptop: number[] = [];
  try {
    await once(laptop.stdout as NodeJS.ReadableStream, 'data');
    await kvpn(['up', '--context', 'admin']);
    const pod = (await cluster.pods({ app: 'echo' }, 'default'))[0]?.metadata.name as string;
    for (let i = 0; i < rounds; i++) straight.push(await requestsRound(cluster, pod, requests, seconds));
    await kvpn([
      'intercept',
      'deploy/echo',
      '--port',
      `${LOCAL_PORT}:80`,
      '--header',
      'x-dev=alice',
      '--name',
      'personal',
    ]);
    // kube-proxy moves the Service to the router within its sync period.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    for (let i = 0; i < rounds; i++) routed.push(await requestsRound(cluster, pod, requests, seconds));
    await kvpn(['leave', 'personal']);
    await kvpn(['intercept', 'deploy/echo', '--port', `${LOCAL_PORT}:80`, '--name', 'whole']);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    for (let i = 0; i < rounds; i++) {
      const o = await inPod<{ up: number; down: number }>(cluster, pod, bulkScript(mib));
      toLaptop.push((mib * 1048576) / 1e6 / o.up);
      fromLaptop.push((mib * 1048576) / 1e6 / o.down);
    }
  } finally {
    await cluster.exec(process.execPath, [MAIN, 'down', '--all'], { env }).catch(() => undefined);
    laptop.kill();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (rs: Requests[], k: keyof Requests) =>
    percentile(
      rs.map((r) => r[k]),
      50,
    );
  const row = (name: string, rs: Requests[]) => [
    name,
    Number(median(rs, 'p50').toFixed(3)),
    Number(median(rs, 'p99').toFixed(3)),
    Math.round(median(rs, 'perSecond')),
  ];
  const added = {
    p50: median(routed, 'p50') - median(straight, 'p50'),
    p99: median(routed, 'p99') - median(straight, 'p99'),
  };
  const bulk = { toLaptop: percentile(toLaptop, 50), fromLaptop: percentile(fromLaptop, 50) };
  return {
    name: 'intercept (real world)',
    table: {
      columns: ['requests not intercepted', 'p50 ms', 'p99 ms', 'req/s (16 clients)'],
      rows: [
        row('pod → Service → pods (no intercept)', straight),
        row('pod → Service → router → decoy → pods', routed),
        ['added by the router', Number(added.p50.toFixed(3)), Number(added.p99.toFixed(3)), ''],
        [`whole intercept, ${mib} MiB pod → laptop`, '', '', `${Math.round(bulk.toLaptop)} MB/s`],
        [`whole intercept, ${mib} MiB laptop → pod`, '', '', `${Math.round(bulk.fromLaptop)} MB/s`],
      ],
    },
    figures: { requests, seconds, mib, rounds, straight, routed, added, bulk, toLaptop, fromLaptop },
    notes: [
      `Medians of ${rounds} rounds, measured inside the echo pod: ${requests} sequential keep-alive GETs after 50 warm-up ones; req/s with 16 keep-alive clients for ${seconds} s; a personal intercept for another header (x-dev=alice) is active on the router path.`,
      'Targets (issue 16): ≤ 0.5 ms p50 added to requests not intercepted; ≥ 100 MB/s bulk through a whole intercept.',
    ],
  };
}
