// `npm run bench -- mount [--mib N] [--files N] [--rounds N] [--json]`
//
// `kvpn mount --rw` of the test workload's PVC on the real Kubernetes world
// (file server in the pod ─ port-forward ─ forwarder ─ sshfs), measured on
// the laptop side, in the session daemon's mount namespace:
//   1. sequential read of an N MiB file (a new file each round: nothing cached);
//   2. sequential write of an N MiB file (dd, then fsync);
//   3. `ls -lR` of a folder of F small files, cold (just mounted) and warm;
//   4. a ConfigMap change until it is on the laptop.
// The reference is the same dd and ls inside the pod, on the volume itself.
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startCluster } from '../test/cluster/index.js';
import { volumesWorkload } from '../test/e2e/helpers/volumes-workload.js';
import { type BenchReport, percentile } from './report.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MAIN = join(ROOT, 'dist/src/cli/main.js');
const exec = promisify(execFile);

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

/** Seconds `script` takes in the daemon's mount namespace. */
async function timed(pid: number, script: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await exec('nsenter', [`--mount=/proc/${pid}/ns/mnt`, 'sh', '-c', script], { maxBuffer: 64 * 1024 * 1024 });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function run(args: string[]): Promise<BenchReport> {
  const mib = flag(args, '--mib', 100);
  const files = flag(args, '--files', 1000);
  const rounds = flag(args, '--rounds', 3);
  if (!existsSync(MAIN) || !existsSync(join(ROOT, 'dist/relay/files.js'))) {
    const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (built.status !== 0) throw new Error('npm run build failed');
  }
  const pv = mkdtempSync('/tmp/kvpn-bench-mount-pv-');
  mkdirSync(join(pv, 'small'));
  for (let i = 0; i < files; i++) writeFileSync(join(pv, 'small', `f${i}.txt`), `file ${i}\n`);
  const chunk = Buffer.alloc(1 << 20, 7);
  for (let r = 0; r < rounds; r++) {
    const path = join(pv, `big-${r}.bin`);
    writeFileSync(path, '');
    for (let i = 0; i < mib; i++) writeFileSync(path, chunk, { flag: 'a' });
  }
  spawnSync('chown', ['-R', '1000:1000', pv]);
  chownSync(pv, 1000, 1000);
  const cluster = await startCluster({ kind: 'real' });
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-bench-mount-'));
  const env = {
    ...process.env,
    KUBECONFIG: cluster.kubeconfigPath,
    KVPN_STATE_DIR: join(dir, 'state'),
    KVPN_RUNTIME_DIR: join(dir, 'run'),
    NODE_OPTIONS: '',
  };
  const kvpn = async (argv: string[]): Promise<string> => {
    const r = await cluster.exec(process.execPath, [MAIN, ...argv], { env, timeoutMs: 180_000 });
    if (r.code !== 0) throw new Error(`kvpn ${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const inPod = async (script: string): Promise<number> => {
    const t0 = process.hrtime.bigint();
    const r = await cluster.kubectl(['exec', 'deploy/vols', '-c', 'app', '--', 'sh', '-c', script], {
      context: 'admin',
      timeoutMs: 300_000,
    });
    if (r.code !== 0) throw new Error(`in the pod: ${r.stderr}`);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const m = { read: [] as number[], write: [] as number[], lsCold: [] as number[], lsWarm: [] as number[] };
  const ref = { read: [] as number[], write: [] as number[], ls: [] as number[] };
  const live: number[] = [];
  try {
    const applied = await cluster.kubectl(['apply', '-f', '-'], {
      context: 'admin',
      input: JSON.stringify(volumesWorkload(pv)),
    });
    if (applied.code !== 0) throw new Error(applied.stderr);
    await cluster.kubectl(['rollout', 'status', 'deploy/vols', '--timeout=120s'], {
      context: 'admin',
      timeoutMs: 130_000,
    });
    await kvpn(['up', '--context', 'admin']);
    const pid = (JSON.parse(await kvpn(['status', '--json'])) as { sessions: { pid: number }[] }).sessions[0]
      ?.pid as number;
    const root = join(dir, 'vols');
    const data = join(root, 'var/lib/vols');
    const cfgRoot = join(dir, 'cfg');
    const appYaml = join(cfgRoot, 'etc/config/app.yaml');
    for (let r = 0; r < rounds; r++) {
      await kvpn(['mount', 'vols', root, '--rw', '--context', 'admin', '--only', 'data']);
      await kvpn(['mount', 'vols', cfgRoot, '--context', 'admin', '--only', 'config', '--name', 'cfg']);
      m.lsCold.push(await timed(pid, `ls -lR ${data}/small > /dev/null`));
      m.lsWarm.push(await timed(pid, `ls -lR ${data}/small > /dev/null`));
      m.read.push(await timed(pid, `dd if=${data}/big-${r}.bin of=/dev/null bs=1M 2>/dev/null`));
      m.write.push(
        await timed(pid, `dd if=/dev/zero of=${data}/written.bin bs=1M count=${mib} conv=fsync 2>/dev/null`),
      );
      const t0 = Date.now();
      const value = `round: ${r}\n`;
      await cluster.kubectl(
        ['patch', 'configmap', 'vols-config', '--type', 'merge', '-p', JSON.stringify({ data: { 'app.yaml': value } })],
        { context: 'admin' },
      );
      for (;;) {
        const got = await exec('nsenter', [`--mount=/proc/${pid}/ns/mnt`, 'cat', appYaml]).then(
          (o) => o.stdout,
          () => '',
        );
        if (got === value) break;
        if (Date.now() - t0 > 30_000) throw new Error('the ConfigMap change did not arrive');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      live.push((Date.now() - t0) / 1000);
      await kvpn(['unmount', 'vols']);
      await kvpn(['unmount', 'cfg']);
      ref.read.push(await inPod(`dd if=/var/lib/vols/big-${r}.bin of=/dev/null bs=1M 2>/dev/null`));
      ref.write.push(await inPod(`dd if=/dev/zero of=/var/lib/vols/ref.bin bs=1M count=${mib} 2>/dev/null && sync`));
      ref.ls.push(await inPod('ls -lR /var/lib/vols/small > /dev/null'));
    }
  } finally {
    await cluster.exec(process.execPath, [MAIN, 'down', '--all'], { env }).catch(() => undefined);
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(pv, { recursive: true, force: true });
  }
  const med = (xs: number[]) => percentile(xs, 50);
  const mb = (mib * 1048576) / 1e6;
  const figures = {
    mib,
    files,
    rounds,
    readMBs: mb / med(m.read),
    writeMBs: mb / med(m.write),
    lsColdS: med(m.lsCold),
    lsWarmS: med(m.lsWarm),
    configMapLiveS: med(live),
    configMapLiveMaxS: Math.max(...live),
    reference: { readMBs: mb / med(ref.read), writeMBs: mb / med(ref.write), lsS: med(ref.ls) },
    raw: { mount: m, reference: ref, live },
  };
  return {
    name: 'mount (kvpn mount --rw of a PVC, real world)',
    table: {
      columns: ['path', 'read MB/s', 'write MB/s', `ls -lR ${files} files s (cold)`, 'ls -lR s (warm)'],
      rows: [
        [
          'laptop: sshfs → forwarder → port-forward → file server',
          Math.round(figures.readMBs),
          Math.round(figures.writeMBs),
          Number(figures.lsColdS.toFixed(3)),
          Number(figures.lsWarmS.toFixed(3)),
        ],
        [
          'in the pod (reference, incl. kubectl exec)',
          Math.round(figures.reference.readMBs),
          Math.round(figures.reference.writeMBs),
          Number(figures.reference.lsS.toFixed(3)),
          '',
        ],
      ],
    },
    figures,
    notes: [
      `Medians of ${rounds} rounds; a new ${mib} MiB file read each round (not cached), written with conv=fsync.`,
      `ConfigMap change to laptop file: median ${figures.configMapLiveS.toFixed(2)} s, max ${figures.configMapLiveMaxS.toFixed(2)} s (target ≤ 5 s).`,
      'Targets: read ≥ 50 MB/s, ls -lR of 1,000 files < 1 s. Times include nsenter/kubectl exec start (~10 ms / ~150 ms).',
    ],
  };
}
