// `npm run bench -- expose [--mib N] [--connections N] [--rounds N] [--json]`
//
// Inbound through `kvpn expose` on the real Kubernetes world, measured from
// a pod (node in the echo pod, through cluster DNS and kube-proxy):
//   1. bulk cluster → laptop: the pod writes N MiB to the exposed Service, the
//      laptop's sink answers with the count once it has them all (MB/s);
//   2. bulk laptop → cluster: the laptop's source writes N MiB, the pod reads (MB/s);
//   3. connections: the pod opens C connections one after another, each
//      "ping" → "pong" → close; latency p50/p99 and connections/s.
// The reference is the same pod reaching the same kind of server inside the
// cluster (a server the bench starts in the echo pod, over its pod IP): what
// going through the laptop adds.
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
/** Ports of the bench's servers (the laptop's, and the in-cluster reference's in the echo pod). */
const SINK = 9101;
const SOURCE = 9102;
const PONG = 9103;

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

/** sink: counts bytes, answers the count at the client's end; source: writes the MiB the client asks for; pong. */
const SERVERS = `
const net = require('node:net');
const host = process.argv[1];
net.createServer({ allowHalfOpen: true }, (s) => {
  let n = 0; s.on('data', (d) => { n += d.length; }); s.on('end', () => s.end(String(n)));
}).listen(${SINK}, host);
net.createServer((s) => {
  s.once('data', (d) => {
    const total = Number(String(d)) * 1048576, chunk = Buffer.alloc(1048576);
    let sent = 0;
    const pump = () => { while (sent < total) { sent += chunk.length; if (!s.write(chunk)) return s.once('drain', pump); } s.end(); };
    pump();
  });
}).listen(${SOURCE}, host);
net.createServer((s) => s.on('data', () => s.end('pong'))).listen(${PONG}, host, () => console.log('listening'));
`;

/** Run in the pod: the three measurements against the sink, source and pong hosts, as one JSON line. */
function clientScript(hosts: Hosts, mib: number, connections: number): string {
  return `
const net = require('node:net');
const hosts = ${JSON.stringify(hosts)}, mib = ${mib};
const upload = () => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint(), s = net.connect(${SINK}, hosts.sink), chunk = Buffer.alloc(1048576);
  let sent = 0, reply = '';
  const pump = () => { while (sent < mib) { sent++; if (!s.write(chunk)) return s.once('drain', pump); } s.end(); };
  s.on('connect', pump); s.on('data', (d) => { reply += d; }); s.on('error', reject);
  s.on('end', () => Number(reply) === mib * 1048576 ? resolve(Number(process.hrtime.bigint() - t0) / 1e9) : reject(new Error('sink got ' + reply)));
});
const download = () => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint(), s = net.connect(${SOURCE}, hosts.source);
  let got = 0;
  s.on('connect', () => s.write(String(mib))); s.on('data', (d) => { got += d.length; }); s.on('error', reject);
  s.on('end', () => got === mib * 1048576 ? resolve(Number(process.hrtime.bigint() - t0) / 1e9) : reject(new Error('got ' + got)));
});
const pong = () => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint(), s = net.connect(${PONG}, hosts.pong);
  s.on('connect', () => s.write('ping')); s.on('error', reject);
  s.on('data', () => {}); s.on('end', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
});
(async () => {
  const up = await upload(), down = await download(), lat = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ${connections}; i++) lat.push(await pong());
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ up, down, lat, seconds }));
})().catch((e) => { console.error(String(e)); process.exit(1); });`;
}

interface Hosts {
  sink: string;
  source: string;
  pong: string;
}

interface Round {
  upMBs: number;
  downMBs: number;
  p50: number;
  p99: number;
  perSecond: number;
}

async function measure(cluster: Cluster, pod: string, hosts: Hosts, mib: number, connections: number): Promise<Round> {
  const r = await cluster.kubectl(['exec', pod, '--', 'node', '-e', clientScript(hosts, mib, connections)], {
    context: 'admin',
    timeoutMs: 300_000,
  });
  if (r.code !== 0) throw new Error(`client in ${pod} against ${hosts.sink}: ${r.stderr}`);
  const o = JSON.parse(r.stdout) as { up: number; down: number; lat: number[]; seconds: number };
  const mb = (mib * 1048576) / 1e6;
  return {
    upMBs: mb / o.up,
    downMBs: mb / o.down,
    p50: percentile(o.lat, 50),
    p99: percentile(o.lat, 99),
    perSecond: connections / o.seconds,
  };
}

export async function run(args: string[]): Promise<BenchReport> {
  const mib = flag(args, '--mib', 256);
  const connections = flag(args, '--connections', 300);
  const rounds = flag(args, '--rounds', 3);
  if (!existsSync(MAIN) || !existsSync(join(ROOT, 'dist/relay/relay.js'))) {
    const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (built.status !== 0) throw new Error('npm run build failed');
  }
  const cluster = await startCluster({ kind: 'real' });
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-bench-expose-'));
  const env = {
    ...process.env,
    KUBECONFIG: cluster.kubeconfigPath,
    KVPN_STATE_DIR: join(dir, 'state'),
    KVPN_RUNTIME_DIR: join(dir, 'run'),
    NODE_OPTIONS: '',
  };
  const kvpn = async (argv: string[]) => {
    const r = await cluster.exec(process.execPath, [MAIN, ...argv], { env, timeoutMs: 180_000 });
    if (r.code !== 0) throw new Error(`kvpn ${argv.join(' ')}: ${r.stderr}`);
  };
  const laptop = cluster.spawn(process.execPath, ['-e', SERVERS, '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const through: Round[] = [];
  const direct: Round[] = [];
  try {
    await once(laptop.stdout as NodeJS.ReadableStream, 'data');
    await kvpn(['up', '--context', 'admin']);
    for (const port of [SINK, SOURCE, PONG]) await kvpn(['expose', String(port), '--name', `bench-${port}`]);
    const echo = (await cluster.pods({ app: 'echo' }, 'default'))[0];
    const pod = echo?.metadata.name as string;
    // The reference servers, in the echo pod itself: reached over its pod IP from the same pod's node.
    const reference = cluster.spawn(
      'kubectl',
      [
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--context',
        'admin',
        'exec',
        pod,
        '--',
        'node',
        '-e',
        SERVERS,
        '0.0.0.0',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await once(reference.stdout as NodeJS.ReadableStream, 'data');
      // kube-proxy programs the new Services within its sync period.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      for (let i = 0; i < rounds; i++) {
        through.push(
          await measure(
            cluster,
            pod,
            { sink: `bench-${SINK}`, source: `bench-${SOURCE}`, pong: `bench-${PONG}` },
            mib,
            connections,
          ),
        );
        const ip = echo?.status?.podIP as string;
        direct.push(await measure(cluster, pod, { sink: ip, source: ip, pong: ip }, mib, connections));
      }
    } finally {
      reference.kill();
    }
  } finally {
    await cluster.exec(process.execPath, [MAIN, 'down', '--all'], { env }).catch(() => undefined);
    laptop.kill();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (rs: Round[], k: keyof Round) =>
    percentile(
      rs.map((r) => r[k]),
      50,
    );
  const row = (name: string, rs: Round[]) => [
    name,
    Math.round(median(rs, 'upMBs')),
    Math.round(median(rs, 'downMBs')),
    Number(median(rs, 'p50').toFixed(2)),
    Number(median(rs, 'p99').toFixed(2)),
    Math.round(median(rs, 'perSecond')),
  ];
  return {
    name: 'expose (inbound, real world)',
    table: {
      columns: ['path', 'cluster→laptop MB/s', 'laptop→cluster MB/s', 'conn p50 ms', 'conn p99 ms', 'conn/s'],
      rows: [row('pod → exposed Service → laptop', through), row('pod → pod IP (reference)', direct)],
    },
    figures: { mib, connections, rounds, through, direct },
    notes: [
      `Medians of ${rounds} rounds; ${mib} MiB each way, ${connections} sequential connections (connect, ping, pong, close) measured inside the echo pod.`,
    ],
  };
}
