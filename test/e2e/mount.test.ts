// `kvpn mount` on the real Kubernetes world: a workload with a ConfigMap, a
// Secret with items and modes, a downward API volume, an emptyDir, a PVC and
// its service-account token. Every file's bytes and mode on the laptop are
// compared with what the container itself lists (kubectl exec), a ConfigMap
// change arrives, --rw writes go both ways, `kvpn run --mount` reads the real
// paths, and after unmount, down, and kill -9 + down nothing is left: no
// FUSE mount, no sshfs, no file server running in the pod.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { MountStatus } from '../../src/sessions/index.js';
import { type Cluster, startCluster } from '../cluster/index.js';
import { realWorld } from '../cluster/worlds.js';
import { daemonPid, type Kvpn, kvpnIn } from './helpers/kvpn.js';
import { VOLS_APP_YAML, volumesWorkload } from './helpers/volumes-workload.js';

const run = promisify(execFile);
const RBAC_DOC = new URL('../../docs/rbac.md', import.meta.url);

/**
 * Each regular file under $0 (symlinks followed, the kubelet's `..` entries left out): path, mode,
 * size, md5. The kubelet adds kubernetes.io/config.* to the annotations it writes (they exist only on
 * the node, docs/mount.md): those lines are left out of that file's hash on both sides.
 */
const LISTING = `cd "$0" && find -L . -type f ! -path '*/..*' | sort | while read -r f; do
  case "$f" in */annotations) c="grep -v ^kubernetes\\.io/config\\.";; *) c=cat;; esac
  sum=$($c "$f" | md5sum); echo "$f $(stat -L -c %a "$f") $($c "$f" | wc -c) \${sum%% *}"; done`;

const MOUNT_PATHS = [
  '/etc/config',
  '/etc/secret',
  '/etc/podinfo',
  '/var/cache/vols',
  '/var/lib/vols',
  '/var/run/secrets/kubernetes.io/serviceaccount',
];

async function inPod(cluster: Cluster, script: string, ...args: string[]): Promise<string> {
  const r = await cluster.kubectl(['exec', 'deploy/vols', '-c', 'app', '--', 'sh', '-c', script, ...args], {
    context: 'admin',
  });
  if (r.code !== 0) throw new Error(`in the pod: ${r.stderr}`);
  return r.stdout;
}

/** A shell in the session daemon's mount namespace: where its FUSE mounts are (the laptop's, in the test world). */
async function inDaemon(pid: number, script: string, ...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run('nsenter', [`--mount=/proc/${pid}/ns/mnt`, 'sh', '-c', script, ...args]);
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - t0;
}

/** The ephemeral containers of the vols pod that have not terminated. */
async function runningFileServers(cluster: Cluster): Promise<string[]> {
  const r = await cluster.kubectl(['get', 'pods', '-l', 'app=vols', '-o', 'json'], { context: 'admin' });
  const pods = JSON.parse(r.stdout) as {
    items: { status: { ephemeralContainerStatuses?: { name: string; state: { terminated?: unknown } }[] } }[];
  };
  return pods.items.flatMap((p) =>
    (p.status.ephemeralContainerStatuses ?? []).filter((s) => !s.state.terminated).map((s) => s.name),
  );
}

async function sshfsUnder(dir: string): Promise<number[]> {
  const out = await run('pgrep', ['-f', `sshfs 127.0.0.1:.* ${dir}/`]).then(
    (r) => r.stdout,
    () => '',
  );
  return out.split('\n').filter(Boolean).map(Number);
}

async function mount(t: Test, k: Kvpn, dir: string, extra: string[] = []): Promise<MountStatus> {
  const r = await k.run(['mount', 'vols', dir, '--context', 'admin', '--json', ...extra], { timeoutMs: 180_000 });
  t.equal(r.code, EXIT.OK, r.stderr);
  return JSON.parse(r.stdout) as MountStatus;
}

const real = await realWorld();
t.test(
  'kvpn mount: every volume kind, live, --rw, run --mount, nothing left',
  { skip: !real.run && real.why },
  async (t) => {
    const cluster = await startCluster({ kind: 'real' });
    t.teardown(() => cluster.stop());
    const pvDir = mkdtempSync('/tmp/kvpn-vols-pv-');
    t.teardown(() => rmSync(pvDir, { recursive: true, force: true }));
    writeFileSync(join(pvDir, 'kept.txt'), 'persistent\n', { mode: 0o640 });
    chownSync(pvDir, 1000, 1000);
    chownSync(join(pvDir, 'kept.txt'), 1000, 1000);
    const applied = await cluster.kubectl(['apply', '-f', '-'], {
      context: 'admin',
      input: JSON.stringify(volumesWorkload(pvDir)),
    });
    t.equal(applied.code, 0, applied.stderr);
    const rolled = await cluster.kubectl(['rollout', 'status', 'deploy/vols', '--timeout=120s'], {
      context: 'admin',
      timeoutMs: 130_000,
    });
    t.equal(rolled.code, 0, rolled.stderr);
    const k = kvpnIn(t, cluster);
    const up = await k.run(['up', '--context', 'admin'], { timeoutMs: 180_000 });
    t.equal(up.code, EXIT.OK, up.stderr);
    const pid = await daemonPid(k);
    const hostHad = ['/etc/config', '/etc/app.yaml', '/run/secrets'].map((p) => existsSync(p));

    // Bad input first: each a one-line error with its code, nothing mounted.
    const full = join(k.dir, 'not-empty');
    mkdirSync(full);
    writeFileSync(join(full, 'x'), '');
    for (const [args, code] of [
      [['mount', 'vols', full], 'KVPN_ERR_MOUNT_DIR_NOT_EMPTY'],
      [['mount', 'vols', '--only', 'nope'], 'KVPN_ERR_MOUNT_NO_VOLUMES'],
      [['mount', 'vols', '--rw', '--only', 'secret'], 'KVPN_ERR_MOUNT_READ_ONLY'],
      [['mount', 'vols', '--pod', 'no-such-pod'], 'KVPN_ERR_WORKLOAD_POD'],
      [['unmount', 'nothing'], 'KVPN_ERR_MOUNT_UNKNOWN'],
    ] as [string[], string][]) {
      const r = await k.run([...args, '--context', 'admin']);
      t.not(r.code, EXIT.OK, `${args.join(' ')} fails`);
      t.match(r.stderr, code, `${args.join(' ')}: ${code}`);
    }

    const dir = join(k.dir, 'vols');
    const status = await mount(t, k, dir, ['--rw']);
    t.same(
      status.paths.map((p) => p.mountPath).sort(),
      [...MOUNT_PATHS, '/etc/app.yaml'].sort(),
      'every volume mount of the container',
    );
    const byPath = new Map(status.paths.map((p) => [p.mountPath, p]));
    t.equal(byPath.get('/etc/config')?.source, 'api');
    t.equal(byPath.get('/var/lib/vols')?.source, 'pod');
    t.equal(byPath.get('/var/lib/vols')?.readOnly, false, '--rw: the PVC is writable');
    t.equal(byPath.get('/etc/secret')?.readOnly, true, 'a Secret stays read-only');
    t.ok(status.fileServer?.startsWith('kvpn-files-'), 'a file server was added to the pod');

    // The bytes and modes the container sees.
    for (const mp of MOUNT_PATHS) {
      const inContainer = await inPod(cluster, LISTING, mp);
      const onLaptop = await inDaemon(pid, LISTING, join(dir, mp));
      t.ok(inContainer.trim().length > 0, `${mp} lists files in the container`);
      t.equal(onLaptop.out, inContainer, `${mp}: same files, modes, sizes and bytes as in the container`);
    }
    const SINGLE = 'stat -L -c "%a %s" "$0" && md5sum < "$0"';
    t.equal(
      (await inDaemon(pid, SINGLE, join(dir, '/etc/app.yaml'))).out,
      await inPod(cluster, SINGLE, '/etc/app.yaml'),
      'a subPath file as in the container',
    );

    // A ConfigMap update arrives as the kubelet's does (atomic swap), within 5 s.
    const appYaml = join(dir, '/etc/config/app.yaml');
    t.equal((await inDaemon(pid, 'cat "$0"', appYaml)).out, VOLS_APP_YAML, 'the ConfigMap as created');
    const patched = await cluster.kubectl(
      [
        'patch',
        'configmap',
        'vols-config',
        '--type',
        'merge',
        '-p',
        JSON.stringify({ data: { 'app.yaml': 'greeting: changed\n' } }),
      ],
      { context: 'admin' },
    );
    t.equal(patched.code, 0, patched.stderr);
    const ms = await until(
      'the ConfigMap change on the laptop',
      async () => (await inDaemon(pid, 'cat "$0"', appYaml)).out === 'greeting: changed\n',
      5_000,
    );
    t.pass(`the ConfigMap change reached the laptop in ${ms} ms`);

    // --rw: both ways through the PVC and the emptyDir; read-only stays read-only.
    const w = await inDaemon(pid, 'echo from-laptop > "$0"', join(dir, '/var/lib/vols/laptop.txt'));
    t.equal(w.code, 0, w.out);
    if (w.code !== 0) {
      // Evidence for a rare failure: what the laptop and the file server saw.
      t.comment((await inDaemon(pid, 'ls -la "$0"; grep kvpn /proc/self/mountinfo', join(dir, '/var/lib/vols'))).out);
      const logs = await cluster.kubectl(['logs', 'deploy/vols', '-c', status.fileServer ?? ''], { context: 'admin' });
      t.comment(logs.stdout.split('\n').slice(-40).join('\n'));
    }
    t.equal(
      await inPod(cluster, 'cat /var/lib/vols/laptop.txt'),
      'from-laptop\n',
      'written on the laptop, read in the pod',
    );
    t.equal(readFileSync(join(pvDir, 'laptop.txt'), 'utf8'), 'from-laptop\n', 'it is on the volume itself');
    await inPod(cluster, 'echo from-pod > /var/cache/vols/pod.txt');
    await until(
      'a file written in the pod on the laptop',
      async () => (await inDaemon(pid, 'cat "$0"', join(dir, '/var/cache/vols/pod.txt'))).out === 'from-pod\n',
      10_000,
    );
    t.pass('written in the pod, read on the laptop');
    for (const p of ['/etc/config/new', '/var/run/secrets/kubernetes.io/serviceaccount/new'])
      t.not((await inDaemon(pid, 'touch "$0"', join(dir, p))).code, 0, `${p} cannot be written`);

    // kvpn run --mount: the real paths, for the command only.
    const ran = await k.run(
      [
        'run',
        'vols',
        '--context',
        'admin',
        '--mount',
        '--',
        'sh',
        '-c',
        'cat /etc/config/app.yaml /etc/app.yaml /var/lib/vols/kept.txt /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; echo "root=$KVPN_ROOT"',
      ],
      { timeoutMs: 180_000 },
    );
    t.equal(ran.code, 0, ran.stderr);
    t.match(
      ran.stdout,
      /^greeting: changed\ngreeting: changed\npersistent\ndefault\nroot=\/\S+\n$/,
      'the volumes at their real paths',
    );
    t.same(
      ['/etc/config', '/etc/app.yaml', '/run/secrets'].map((p) => existsSync(p)),
      hostHad,
      'nothing else on the machine saw them',
    );
    const runRoot = /root=(\S+)/.exec(ran.stdout)?.[1] ?? '';
    t.notOk(existsSync(runRoot), `the run's mount directory ${runRoot} is gone after the command`);
    t.notMatch(basename(dirname(runRoot)), /^kvpn/, 'and it had no parent of its own to leave behind');

    // unmount: FUSE detached, sshfs gone, the directory removed, the file server exits.
    t.ok((await sshfsUnder(dir)).length > 0, 'sshfs serves the pod volumes');
    const un = await k.run(['unmount', 'vols', '--context', 'admin']);
    t.equal(un.code, EXIT.OK, un.stderr);
    t.same(await sshfsUnder(dir), [], 'no sshfs left');
    t.notOk(existsSync(dir), 'the directory kvpn made is gone');
    t.notMatch((await inDaemon(pid, 'cat /proc/self/mountinfo')).out, dir, 'no mount left');
    await until('the file servers to exit', async () => (await runningFileServers(cluster)).length === 0, 60_000);
    t.pass('no file server runs in the pod');

    // The pod goes away while mounted: its paths answer EIO at once, `status` says why.
    const again = join(k.dir, 'vols-again');
    await mount(t, k, again);
    const sshfs = await sshfsUnder(again);
    t.ok(sshfs.length > 0, 'mounted again');
    const deleted = await cluster.kubectl(['delete', 'pod', '-l', 'app=vols', '--wait=false'], { context: 'admin' });
    t.equal(deleted.code, 0, deleted.stderr);
    await until(
      'EIO from the gone pod',
      async () => /Input\/output error/.test((await inDaemon(pid, 'ls "$0"', join(again, '/var/lib/vols'))).out),
      10_000,
    );
    t.pass('a path of the deleted pod answers EIO');
    await until(
      'status to say why',
      async () => /mount .*pod vols-\S+ (is gone|is being deleted)/.test((await k.run(['status'])).stdout),
      15_000,
    );
    t.pass('kvpn status says the pod went away');

    // kill -9, then down: the journal stops sshfs (which unmounts) and removes the directory.
    process.kill(pid, 'SIGKILL');
    await until('the daemon to die', async () => !existsSync(`/proc/${pid}/ns`), 10_000);
    const down = await k.run(['down', '--context', 'admin'], { timeoutMs: 120_000 });
    t.equal(down.code, EXIT.OK, down.stderr);
    t.same(await sshfsUnder(again), [], 'no sshfs left after kill -9 + down');
    t.notOk(existsSync(again), 'the directory is gone');
    t.notMatch(readFileSync('/proc/mounts', 'utf8'), /\bkvpn\b.*fuse/, 'no kvpn FUSE mount on the machine');
    await until('the file servers to exit', async () => (await runningFileServers(cluster)).length === 0, 60_000);
    t.pass('no file server runs in the pod after kill -9 + down');
    const secrets = await cluster.kubectl(['get', 'secrets', '-o', 'name'], { context: 'admin' });
    t.notMatch(secrets.stdout, /kvpn-files-/, 'no file server token Secret left');
    // docs/rbac.md's kvpn-mount Role, read from the page, is what staging needs on top of the tunnel's;
    // without its ephemeral-container right, the API volumes still mount.
    const upStaging = await k.run(['up', '--context', 'staging'], { timeoutMs: 180_000 });
    t.equal(upStaging.code, EXIT.OK, upStaging.stderr);
    const refused = await k.run(['mount', 'vols', '--context', 'staging']);
    t.not(refused.code, EXIT.OK, 'without the Role: refused');
    t.match(refused.stderr, /KVPN_ERR_(API|MOUNT)_FORBIDDEN/);
    const role = [...readFileSync(RBAC_DOC, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1] as string)
      .find((y) => /name: kvpn-mount\n/.test(y));
    t.ok(role, 'docs/rbac.md documents the kvpn-mount Role');
    const grant = (yaml: string) =>
      cluster.kubectl(['apply', '-f', '-'], {
        context: 'admin',
        input: `${yaml.replaceAll('namespace: my-namespace', 'namespace: default')}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: kvpn-mount, namespace: default}
subjects: [{kind: ServiceAccount, name: staging, namespace: default}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: kvpn-mount}
`,
      });
    const withoutEphemeral = (role ?? '').replace(
      / {2}- apiGroups: \[""\]\n {4}resources: \["pods\/ephemeralcontainers"\]\n {4}verbs: \["patch"\]\n/,
      '',
    );
    t.not(withoutEphemeral, role, 'the Role names pods/ephemeralcontainers');
    t.equal((await grant(withoutEphemeral)).code, 0);
    const noEphemeral = await k.run(['mount', 'vols', '--context', 'staging']);
    t.not(noEphemeral.code, EXIT.OK, 'pod volumes need the ephemeral container right');
    t.match(noEphemeral.stderr, /"patch" on "pods\/ephemeralcontainers"[\s\S]*--only[\s\S]*KVPN_ERR_MOUNT_FORBIDDEN/);
    const apiOnly = await k.run([
      'mount',
      'vols',
      '--context',
      'staging',
      '--only',
      'config',
      '--only',
      'secret',
      '--json',
    ]);
    t.equal(apiOnly.code, EXIT.OK, apiOnly.stderr);
    t.same(
      (JSON.parse(apiOnly.stdout) as MountStatus).paths.map((p) => p.mountPath).sort(),
      ['/etc/app.yaml', '/etc/config', '/etc/secret'],
      'ConfigMap and Secret volumes mount without it',
    );
    t.equal((await grant(role ?? '')).code, 0);
    const all = await k.run(['mount', 'vols', '--context', 'staging', '--name', 'all', '--json'], {
      timeoutMs: 180_000,
    });
    t.equal(all.code, EXIT.OK, all.stderr);
    t.equal((JSON.parse(all.stdout) as MountStatus).paths.length, 7, 'with the Role, every volume');
    const downStaging = await k.run(['down', '--context', 'staging'], { timeoutMs: 120_000 });
    t.equal(downStaging.code, EXIT.OK, downStaging.stderr);
    t.notMatch(readFileSync('/proc/mounts', 'utf8'), /\bkvpn\b.*fuse/, 'nothing mounted after down');
  },
);
