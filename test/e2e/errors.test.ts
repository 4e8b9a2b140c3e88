// The errors a user will meet with `kvpn up`: each is one clear sentence
// plus its fix, a non-zero exit code, and nothing left half-done (the
// laptop and the cluster look exactly as before).
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import { type Kvpn, kvpnCommand, kvpnIn, snapshot } from './helpers/kvpn.js';
import { onEachWorld, standInOnly } from './helpers/worlds.js';

await onEachWorld(t, {}, async (t, cluster) => {
  /** Runs `kvpn up ARGS`, expects failure with `code` and `exit`, and that nothing changed. */
  async function failsCleanly(
    t: Test,
    kvpn: Kvpn,
    args: string[],
    expect: { exit: number; code: string; message: RegExp | string; fix: RegExp | string },
    run: (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }> = (a) => kvpn.run(a),
  ): Promise<void> {
    const before = await snapshot(cluster, kvpn);
    const r = await run(['up', ...args]);
    t.equal(r.code, expect.exit, `exit code (stderr: ${r.stderr})`);
    t.match(r.stderr, expect.message, 'one sentence saying what went wrong');
    t.match(r.stderr, expect.fix, 'and how to fix it');
    t.match(r.stderr, `(${expect.code}, see docs/errors.md)`);
    t.same(await snapshot(cluster, kvpn), before, 'nothing left half-done');
  }

  async function withKubeconfig(kvpn: Kvpn, edit: (text: string) => string): Promise<string> {
    const { readFileSync } = await import('node:fs');
    const path = join(kvpn.dir, 'kubeconfig');
    writeFileSync(path, edit(readFileSync(cluster.kubeconfigPath, 'utf8')), { mode: 0o644 });
    return path;
  }

  t.test('unknown context: the list of contexts, with the likely one', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    await failsCleanly(t, kvpn, ['--context', 'stagin'], {
      exit: EXIT.CONFIG,
      code: 'KVPN_ERR_UNKNOWN_CONTEXT',
      message: 'kvpn: Context "stagin" is not in the kubeconfig.',
      fix: 'fix: Pick one of: staging, admin, staging-exec, no-portforward, staging-reader (did you mean "staging"?).',
    });
  });

  t.test('unreachable API server', { skip: standInOnly(cluster, 'stops its API server') }, async (t) => {
    const kvpn = kvpnIn(t, cluster);
    await cluster.stopApiServer();
    t.teardown(() => cluster.startApiServer());
    await failsCleanly(t, kvpn, ['--context', 'staging'], {
      exit: EXIT.CLUSTER,
      code: 'KVPN_ERR_API_UNREACHABLE',
      message: /kvpn: Cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
      fix: 'fix: Check your network/VPN to the cluster',
    });
  });

  t.test('expired credentials: a rejected token, a failing exec plugin', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    const kubeconfig = await withKubeconfig(kvpn, (text) =>
      text.replace(/(- name: staging\n {2}user:\n {4}token: )\S+/, '$1staging.expired'),
    );
    await failsCleanly(t, kvpn, ['--kubeconfig', kubeconfig, '--context', 'staging'], {
      exit: EXIT.CONFIG,
      code: 'KVPN_ERR_API_UNAUTHORIZED',
      message: /kvpn: GET \/api\/v1\/namespaces\/default\/pods: Unauthorized\./,
      fix: 'fix: Your credentials were rejected or expired: log in again',
    });
    await cluster.setExecPluginFailing(true);
    t.teardown(() => cluster.setExecPluginFailing(false));
    await failsCleanly(t, kvpn, ['--context', 'staging-exec'], {
      exit: EXIT.CONFIG,
      code: 'KVPN_ERR_KUBECONFIG',
      message: /kvpn: Cannot get credentials for user "staging-exec": .*refusing \(test fault\)/,
      fix: 'fix: Check the user entry of the kubeconfig (for exec plugins, run the command by hand).',
    });
  });

  t.test('forbidden: no rights in the namespace', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    await failsCleanly(t, kvpn, ['--context', 'staging', '--namespace', 'shop'], {
      exit: EXIT.CONFIG,
      code: 'KVPN_ERR_RELAY_FORBIDDEN',
      message: /kvpn: .*forbidden.*shop/i,
      fix: /fix: .*rbac/i,
    });
  });

  t.test('forbidden: pods/portforward alone is missing (the relay starts, the tunnel cannot open)', async (t) => {
    // Regression: only a fake port-forward ever refused the tunnel; this is the real path, ending at once, not at a timeout.
    const kvpn = kvpnIn(t, cluster);
    await failsCleanly(
      t,
      kvpn,
      ['--context', 'no-portforward'],
      {
        exit: EXIT.CONFIG,
        code: 'KVPN_ERR_RELAY_FORBIDDEN',
        message:
          /^kvpn: Not allowed to open a port-forward to the relay in namespace "default": missing RBAC verb "get" on "pods\/portforward" \(pods "kvpn-relay-no-portforward-[0-9a-f-]+" is forbidden: User "system:serviceaccount:default:no-portforward" cannot get resource "pods\/portforward" in API group "" in the namespace "default"\)\.$/m,
        fix: 'fix: Ask a cluster admin to bind the kvpn Role from docs/rbac.md in "default" (it grants "get" on "pods/portforward"), or pick a namespace where you have it with --namespace.',
      },
      // Well under up's 30 s wait for the tunnel: a hang until that timeout is killed here and fails the exit code.
      (a) => kvpn.run(a, { timeoutMs: 20_000 }),
    );
  });

  t.test('relay image not pullable', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    await failsCleanly(t, kvpn, ['--context', 'staging', '--relay-image', 'registry.example/kvpn/nothing:1'], {
      exit: EXIT.CLUSTER,
      code: 'KVPN_ERR_RELAY_IMAGE',
      message: 'kvpn: The cluster cannot pull the relay image "registry.example/kvpn/nothing:1"',
      fix: 'fix: Pass --relay-image with a node image',
    });
  });

  t.test('TUN not available (no /dev/net/tun, as in a container without it)', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    const self = kvpnCommand();
    // A private mount namespace with an empty /dev/net: the daemon inherits it.
    const run = (args: string[]) =>
      cluster.exec(
        'unshare',
        ['-m', 'sh', '-c', 'mount -t tmpfs none /dev/net && exec "$@"', 'sh', self.command, ...self.args, ...args],
        {
          env: kvpn.env,
          timeoutMs: 60_000,
        },
      );
    await failsCleanly(
      t,
      kvpn,
      ['--context', 'staging'],
      {
        exit: EXIT.SYSTEM,
        code: 'KVPN_ERR_TUN_UNAVAILABLE',
        message: 'kvpn: /dev/net/tun is not available',
        fix: 'fix: Load the tun kernel module',
      },
      run,
    );
  });

  t.test('not root and no sudo', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    const self = kvpnCommand();
    const run = (args: string[]) =>
      cluster.exec(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', self.command, ...self.args, ...args],
        {
          env: { ...kvpn.env, PATH: '/usr/bin:/bin', HOME: '/nonexistent' },
          timeoutMs: 60_000,
        },
      );
    await failsCleanly(
      t,
      kvpn,
      ['--context', 'staging'],
      {
        exit: EXIT.SYSTEM,
        code: 'KVPN_ERR_NEEDS_ROOT',
        message:
          'kvpn: `kvpn up` needs root to create the TUN device, routes and resolver settings, and sudo is not available.',
        fix: "fix: Run it as root, e.g. `su -c 'kvpn up'`",
      },
      run,
    );
  });

  t.test('route conflict: names both routes; --allow-conflicting overrides', async (t) => {
    await cluster.exec('ip', ['link', 'add', 'corp0', 'type', 'veth', 'peer', 'name', 'corp1']);
    t.teardown(() => cluster.exec('ip', ['link', 'del', 'corp0']));
    await cluster.exec('ip', ['link', 'set', 'corp0', 'up']);
    // Inside the Service range but clear of 10.96.0.1 (kubernetes.default), which the overriding
    // `up` verifies through: a Service IP is random in the range, so a conflict covering 10.96/16
    // left nothing reachable to verify once in a while.
    await cluster.exec('ip', ['route', 'add', '10.111.0.0/16', 'dev', 'corp0']);
    const kvpn = kvpnIn(t, cluster);
    // staging-reader: the exact Service range.
    await failsCleanly(t, kvpn, ['--context', 'staging-reader'], {
      exit: EXIT.SYSTEM,
      code: 'KVPN_ERR_ROUTE_CONFLICT',
      message: 'kvpn: The cluster range 10.96.0.0/12 overlaps the existing route 10.111.0.0/16 dev corp0.',
      fix: 'fix: Exclude it with --never-proxy 10.96.0.0/12, or route it into the cluster anyway with --allow-conflicting.',
    });
    const up = await kvpn.run(['up', '--context', 'staging-reader', '--allow-conflicting']);
    t.equal(up.code, EXIT.OK, up.stderr);
    const status = JSON.parse((await kvpn.run(['status', '--json'])).stdout).sessions[0];
    t.match(status.warnings, [/routing 10\.96\.0\.0\/12 although it overlaps 10\.111\.0\.0\/16 dev corp0/]);
    t.equal((await kvpn.run(['down'])).code, EXIT.OK);
  });

  t.test('a second up for the same context says so and changes nothing', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    const up = await kvpn.run(['up', '--context', 'staging']);
    t.equal(up.code, EXIT.OK, up.stderr);
    await failsCleanly(t, kvpn, ['--context', 'staging'], {
      exit: EXIT.SESSION_EXISTS,
      code: 'KVPN_ERR_SESSION_EXISTS',
      message: 'kvpn: A kvpn session for context "staging" is already running.',
      fix: 'fix: Use it (kvpn status), or stop it first with `kvpn down --context staging`.',
    });
    t.equal((await kvpn.run(['down'])).code, EXIT.OK);
  });

  t.test(
    'Ctrl-C while up is starting: exit 130, everything already done is undone',
    { skip: standInOnly(cluster, 'adds API latency') },
    async (t) => {
      const kvpn = kvpnIn(t, cluster);
      const before = await snapshot(cluster, kvpn);
      // Slow the API down so the interrupt lands in the middle of the start.
      await cluster.setApiLatency(300);
      t.teardown(() => cluster.setApiLatency(0));
      const self = kvpnCommand();
      const child = cluster.spawn(self.command, [...self.args, 'up', '--context', 'staging'], {
        env: kvpn.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr?.on('data', (d) => (err += d));
      const deadline = Date.now() + 30_000;
      while (!err.includes('✓ kubeconfig loaded') && Date.now() < deadline && child.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      child.kill('SIGINT');
      const [code] = await once(child, 'exit');
      t.equal(code, EXIT.INTERRUPTED, err);
      t.match(err, 'kvpn: Interrupted; the session was stopped and everything it did was undone.');
      t.match(err, 'KVPN_ERR_INTERRUPTED');
      await cluster.setApiLatency(0);
      t.same(await snapshot(cluster, kvpn), before, 'nothing left half-done');
    },
  );
});
