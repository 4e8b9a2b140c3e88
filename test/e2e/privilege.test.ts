// kvpn run through sudo by an unprivileged user: the session is root, but
// the user's exec credential plugin (the world's staging-exec context) runs
// as the user, with the user's environment — never as root — both when the
// unprivileged kvpn hands its environment over (its own sudo re-run) and
// when the user typed `sudo kvpn up` (SUDO_* only).
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import { daemonPid, type Kvpn, kvpnCommand, kvpnIn, laptop, snapshot } from './helpers/kvpn.js';
import { onEachWorld } from './helpers/worlds.js';

const NOBODY = 65534;
await onEachWorld(t, {}, async (t, cluster) => {
  /** A copy of the kubeconfig whose exec plugin first records who runs it. */
  function tracedKubeconfig(kvpn: Kvpn): { kubeconfig: string; trace: string; home: string } {
    const home = join(kvpn.dir, 'home');
    mkdirSync(home, { recursive: true });
    chmodSync(kvpn.dir, 0o755);
    chmodSync(home, 0o777);
    const trace = join(home, 'plugin-runs');
    const original = /command: (\S+exec-credential\.sh)/.exec(
      readFileSync(cluster.kubeconfigPath, 'utf8'),
    )?.[1] as string;
    const wrapper = join(home, 'traced-plugin.sh');
    writeFileSync(
      wrapper,
      `#!/bin/sh\necho "uid=$(id -u) mark=$USER_MARK" >> '${trace}'\nexec '${original}' 2>/dev/null\n`,
      { mode: 0o755 },
    );
    const kubeconfig = join(home, 'config');
    writeFileSync(kubeconfig, readFileSync(cluster.kubeconfigPath, 'utf8').replace(original, wrapper), { mode: 0o644 });
    return { kubeconfig, trace, home };
  }

  async function upUseDown(
    t: Test,
    kvpn: Kvpn,
    run: () => Promise<{ code: number; stderr: string }>,
    trace: string,
  ): Promise<void> {
    const before = await snapshot(cluster, kvpn);
    const up = await run();
    t.equal(up.code, EXIT.OK, up.stderr);
    const pid = await daemonPid(kvpn);
    const curl = await laptop(cluster, 'curl', ['-sS', '-m', '10', 'http://echo.default/']);
    t.match(curl.stdout, /^echo-/, 'the session works with the exec plugin credential');
    const runs = readFileSync(trace, 'utf8').trim().split('\n');
    t.ok(runs.length >= 1, `the plugin ran (${runs.length}×)`);
    t.same([...new Set(runs)], [`uid=${NOBODY} mark=from-the-user`], "always as the user, with the user's environment");
    const down = await kvpn.run(['down']);
    t.equal(down.code, EXIT.OK, down.stderr);
    t.same(await snapshot(cluster, kvpn, [pid]), before);
  }

  t.test('handed over by the unprivileged kvpn (its own sudo re-run)', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    const { trace, home } = tracedKubeconfig(kvpn);
    const self = kvpnCommand();
    const handoff = {
      version: 1,
      uid: NOBODY,
      gid: NOBODY,
      cwd: home,
      env: { PATH: '/usr/bin:/bin', HOME: home, KUBECONFIG: 'config', USER_MARK: 'from-the-user' },
    };
    const env = {
      ...kvpn.env,
      KUBECONFIG: '/nonexistent/root-kubeconfig',
      SUDO_UID: String(NOBODY),
      SUDO_GID: String(NOBODY),
      SUDO_USER: 'nobody',
    };
    await upUseDown(
      t,
      kvpn,
      () =>
        cluster.exec(self.command, [...self.args, 'up', '--context', 'staging-exec', '--handoff', 'stdin'], {
          env,
          input: JSON.stringify(handoff),
          timeoutMs: 60_000,
        }),
      trace,
    );
  });

  t.test('`sudo kvpn up` typed by the user: SUDO_* and the passwd entry', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    const { kubeconfig, trace } = tracedKubeconfig(kvpn);
    await upUseDown(
      t,
      kvpn,
      () =>
        kvpn.run(['up', '--context', 'staging-exec', '--kubeconfig', kubeconfig], {
          env: { SUDO_UID: String(NOBODY), SUDO_GID: String(NOBODY), SUDO_USER: 'nobody', USER_MARK: 'from-the-user' },
        }),
      trace,
    );
  });
});
