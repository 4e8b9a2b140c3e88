// Starting and finding worlds from outside: creates the laptop namespace,
// starts the daemon inside it, waits for its READY line; lists worlds on
// disk and tells live ones from a crashed one's leftovers.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IpFamilies } from './ip-families.js';
import { run } from './network/shell.js';
import { sweepWorld } from './network/sweep.js';
import {
  DEFAULT_CLUSTER_DOMAIN,
  isClusterDomain,
  isWorldId,
  newWorldId,
  REAL_CACHE_ROOT,
  WORLD_PREFIX,
  WORLDS_ROOT,
  WorldLayout,
  type WorldState,
} from './world-config.js';

const STARTING_GRACE_MS = 60_000;
const DAEMON = fileURLToPath(new URL('./daemon.ts', import.meta.url));
const REAL_DAEMON = fileURLToPath(new URL('./real/daemon.ts', import.meta.url));
const LOADER = fileURLToPath(new URL('../../scripts/ts-loader.mjs', import.meta.url));

export interface LaunchOptions {
  nodes?: number;
  /** Serve networking.k8s.io/v1 ServiceCIDR (default true). */
  serviceCidrApi?: boolean;
  /** First restart back-off of crashed containers after the first (default 1000 ms). */
  restartBackoffMs?: number;
  /** The cluster domain (default cluster.local), as a kubelet's --cluster-domain: DNS zone, pod resolv.conf, names. */
  clusterDomain?: string;
  owner?: 'cli' | 'test';
  readyTimeoutMs?: number;
  /** The stand-in (default) or real Kubernetes components, built by test/cluster/real/build-components.sh. */
  kind?: 'stand-in' | 'real';
  /** Real world: the IP families inside the cluster (default ipv4); the stand-in is IPv4-only. */
  ipFamilies?: IpFamilies;
  /** Real world: build the components when they are not built yet (minutes), instead of failing. */
  build?: boolean;
  root?: string;
}

export interface Launched {
  state: WorldState;
  daemon: ChildProcess;
}

/**
 * The stand-in is one Node process that every port-forward byte crosses. Its
 * own garbage collector and allocator must not be what a benchmark measures,
 * and without these they are, unevenly: they cost most in whichever path is
 * slower (one stream down through kvpn's tunnel: the stand-in spent 4.5–4.9
 * CPU s/GiB in these states, 2.2–2.6 in runs where it stayed calm).
 * - `--initial-heap-size=128`: V8 otherwise sizes the old generation from the
 *   stand-in's ~10 MB live heap, and a transfer's short-lived buffers then
 *   start a full mark-compact every ~50 ms (201 in one run; 0 with the flag).
 */
const STAND_IN_NODE_FLAGS = ['--initial-heap-size=128'];
/**
 * glibc: keep freed heap instead of trimming it, and serve buffers under
 * 4 MiB from the heap instead of mmap. A port-forward's send queue swings
 * between 2 and 4 MiB as the reader pauses and resumes; with glibc's defaults
 * every swing gave pages back and faulted them in again (page faults and
 * page clearing in the stand-in's profile, on the tunnel path only).
 * Pod containers do not inherit it (they start under `env -i`); the
 * stand-in's own helpers (netns agents, exec probes) do, harmlessly: they
 * move no bulk data and the pad is address space, not resident memory.
 */
const STAND_IN_MALLOC_ENV = {
  MALLOC_TRIM_THRESHOLD_: String(256 * 1024 * 1024),
  MALLOC_TOP_PAD_: String(64 * 1024 * 1024),
  MALLOC_MMAP_THRESHOLD_: String(4 * 1024 * 1024),
};

export async function launchWorld(opts: LaunchOptions = {}): Promise<Launched> {
  const clusterDomain = opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
  if (!isClusterDomain(clusterDomain)) throw new Error(`"${clusterDomain}" is not a cluster domain (DNS labels)`);
  const id = newWorldId();
  const layout = new WorldLayout(id, opts.root);
  const owner = opts.owner ?? 'test';
  const ipFamilies = opts.ipFamilies ?? 'ipv4';
  if (ipFamilies !== 'ipv4' && opts.kind !== 'real')
    throw new Error(
      `a ${ipFamilies === 'dual' ? 'dual-stack' : 'IPv6-only'} world needs real Kubernetes (kind: 'real', --real): the stand-in is IPv4-only`,
    );
  const real = opts.kind === 'real' ? await realComponents(opts.build ?? false) : undefined;
  await run('ip', ['netns', 'add', layout.laptopNetns]);
  await run('ip', ['-n', layout.laptopNetns, 'link', 'set', 'lo', 'up']);
  const common = ['--id', id, '--owner', owner, '--cluster-domain', clusterDomain];
  const args = real
    ? [
        `--net=/run/netns/${layout.laptopNetns}`,
        process.execPath,
        '--import',
        LOADER,
        REAL_DAEMON,
        ...common,
        '--bin',
        real.bin,
        '--image-cache',
        real.imageCache,
        '--ready-timeout-ms',
        String(opts.readyTimeoutMs ?? 180_000),
        '--ip-family',
        ipFamilies,
      ]
    : [
        `--net=/run/netns/${layout.laptopNetns}`,
        process.execPath,
        ...STAND_IN_NODE_FLAGS,
        '--import',
        LOADER,
        DAEMON,
        ...common,
        '--nodes',
        String(opts.nodes ?? 2),
        '--service-cidr-api',
        String(opts.serviceCidrApi ?? true),
        '--restart-backoff-ms',
        String(opts.restartBackoffMs ?? 1000),
        '--ready-timeout-ms',
        String(opts.readyTimeoutMs ?? 30_000),
      ];
  if (opts.root) args.push('--root', opts.root);
  // A CLI world outlives the terminal that started it: its stderr goes to the log.
  let stderr: 'inherit' | number = 'inherit';
  if (owner === 'cli') {
    await mkdir(layout.dir, { recursive: true, mode: 0o755 });
    stderr = openSync(layout.logFile, 'a');
  }
  const daemon = spawn('nsenter', args, {
    stdio: [owner === 'test' ? 'pipe' : 'ignore', 'pipe', stderr],
    detached: owner === 'cli',
    env: { ...process.env, ...STAND_IN_MALLOC_ENV },
  });
  if (typeof stderr === 'number') closeSync(stderr);
  try {
    const state = await new Promise<WorldState>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer): void => {
        out += d.toString('utf8');
        const line = out.split('\n').find((l) => l.startsWith('READY ') || l.startsWith('FAILED '));
        if (!line) return;
        daemon.stdout?.off('data', onData);
        if (line.startsWith('READY ')) resolve(JSON.parse(line.slice(6)) as WorldState);
        else
          reject(new Error(`test world ${id} failed to start: ${JSON.parse(line.slice(7))} (log: ${layout.logFile})`));
      };
      daemon.stdout?.on('data', onData);
      daemon.once('exit', (code) =>
        reject(new Error(`test world ${id} daemon exited with ${code} before it was ready (log: ${layout.logFile})`)),
      );
      daemon.once('error', reject);
    });
    return { state, daemon };
  } catch (err) {
    daemon.kill('SIGKILL');
    await sweepWorld(id, layout.dir);
    throw err;
  }
}

export class RealWorldUnavailableError extends Error {
  readonly code = 'REAL_WORLD_UNAVAILABLE';
}

/** The built components (and where images are cached); builds them first only when asked to. */
async function realComponents(build: boolean): Promise<{ bin: string; imageCache: string }> {
  const cache = process.env.KVPN_REAL_CACHE ?? REAL_CACHE_ROOT;
  const script = fileURLToPath(new URL('./real/build-components.sh', import.meta.url));
  const env = { ...process.env, KVPN_REAL_CACHE: cache, ...(build ? {} : { KVPN_REAL_NO_BUILD: '1' }) };
  const bin = await new Promise<string>((resolve, reject) => {
    execFile('bash', [script], { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) resolve(stdout.trim().split('\n').pop() ?? '');
      else if (err.code === 3)
        reject(new RealWorldUnavailableError(`the real world's components are not built: run ${script} (5-10 min)`));
      else reject(new Error(`building the real world's components failed: ${String(stderr).slice(-2000)}`));
    });
  });
  return { bin, imageCache: `${cache}/images` };
}

export interface WorldOnDisk {
  id: string;
  dir: string;
  state: WorldState | undefined;
  alive: boolean;
}

function pidAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every world with a directory or a network namespace on this machine. */
export async function listWorlds(root = WORLDS_ROOT): Promise<WorldOnDisk[]> {
  const ids = new Set<string>();
  for (const d of await readdir(root).catch(() => [] as string[])) if (isWorldId(d)) ids.add(d);
  for (const n of await readdir('/run/netns').catch(() => [] as string[])) {
    const id = n.split('-')[0] ?? '';
    if (id.startsWith(WORLD_PREFIX) && isWorldId(id)) ids.add(id);
  }
  const out: WorldOnDisk[] = [];
  for (const id of ids) {
    const dir = join(root, id);
    const state = await readFile(join(dir, 'world.json'), 'utf8').then(
      (t) => JSON.parse(t) as WorldState,
      () => undefined,
    );
    const laptop = new WorldLayout(id, root).laptopNetns;
    const inLaptop = await run('ip', ['netns', 'pids', laptop]).catch(() => '');
    // A world being started has a laptop namespace before it has a daemon.
    const born = await stat(`/run/netns/${laptop}`).then(
      (s) => s.ctimeMs,
      () => 0,
    );
    const starting = !state && Date.now() - born < STARTING_GRACE_MS;
    out.push({ id, dir, state, alive: pidAlive(state?.daemonPid) || inLaptop.trim() !== '' || starting });
  }
  return out;
}
