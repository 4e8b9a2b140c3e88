// `kvpn run`: a command gets the workload's environment and reaches the
// Services it names through a running `kvpn up`; without a session it is
// refused with the way to start one; the command's exit status is kvpn's,
// signals sent to kvpn reach the command, and `--shell`'s prompt names the context.
import { once } from 'node:events';
import t from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import { startCluster } from '../cluster/index.js';
import { realWorld } from '../cluster/worlds.js';
import { kvpnCommand, kvpnIn } from './helpers/kvpn.js';

const real = await realWorld();
t.test('kvpn run through kvpn up', { skip: !real.run && real.why }, async (t) => {
  const cluster = await startCluster({ kind: 'real' });
  t.teardown(() => cluster.stop());
  const kvpn = kvpnIn(t, cluster);
  const curl = ['sh', '-c', 'curl -sf --max-time 10 "http://$ECHO_SERVICE_HOST:$ECHO_SERVICE_PORT/"'];

  const before = await kvpn.run(['run', 'deploy/echo', '--context', 'admin', '--', ...curl]);
  t.equal(before.code, EXIT.CONFIG, 'refused without a session');
  t.match(
    before.stderr,
    /no kvpn session is running for context "admin"[\s\S]*kvpn up --context admin[\s\S]*KVPN_ERR_RUN_NO_SESSION/i,
  );

  const up = await kvpn.run(['up', '--context', 'admin'], { timeoutMs: 180_000 });
  t.equal(up.code, EXIT.OK, up.stderr);

  const got = await kvpn.run(['run', 'deploy/echo', '--context', 'admin', '--', ...curl]);
  t.equal(got.code, EXIT.OK, got.stderr);
  const pods = (await cluster.pods({ app: 'echo' }, 'default')).map((p) => p.metadata.name);
  t.ok(pods.includes(got.stdout.trim()), `an echo pod answered (${got.stdout.trim()})`);

  const status = await kvpn.run(['run', 'deploy/echo', '--context', 'admin', '--', 'sh', '-c', 'exit 7']);
  t.equal(status.code, 7, "the command's exit status");

  const kept = await kvpn.run(
    ['run', 'deploy/echo', '--context', 'admin', '--', 'sh', '-c', 'printf %s "$PATH|$KVPN_CONTEXT"'],
    {
      env: { PATH: `/opt/mine:${process.env.PATH}` },
    },
  );
  t.equal(kept.stdout, `/opt/mine:${process.env.PATH}|admin`, "PATH stays the user's; KVPN_CONTEXT names the context");

  // Signals reach the command; kvpn exits with what the command made of them.
  const self = kvpnCommand();
  const trapping = (signal: string, status: number) =>
    `trap 'echo got ${signal}; exit ${status}' ${signal}; echo ready; while :; do sleep 0.1; done`;
  for (const [signal, script, status] of [
    ['SIGTERM', trapping('TERM', 42), 42],
    ['SIGINT', trapping('INT', 43), 43],
    ['SIGHUP', 'echo ready; exec sleep 100', 128 + 1],
  ] as const) {
    const child = cluster.spawn(
      self.command,
      [...self.args, 'run', 'deploy/echo', '--context', 'admin', '--', 'sh', '-c', script],
      { env: kvpn.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    const exited = once(child, 'exit');
    await new Promise<void>((resolve) => {
      const check = () => out.includes('ready') && resolve();
      child.stdout?.on('data', check);
    });
    child.kill(signal);
    const [code] = await exited;
    t.equal(code, status, `${signal}: passed on; kvpn exits ${status}`);
    if (status !== 129) t.match(out, `got ${signal.slice(3)}`, `${signal}: the command's trap ran`);
  }

  // --shell: the user's $SHELL, its prompt naming the context.
  const shell = await kvpn.run(['run', 'deploy/echo', '--context', 'admin', '--shell'], {
    env: { SHELL: '/bin/sh', PS1: '$ ' },
    input: 'printf "%s|%s" "$PS1" "$ECHO_SERVICE_HOST"; exit 5\n',
  });
  t.equal(shell.code, 5, "the shell's exit status");
  t.equal(shell.stdout, `(kvpn:admin) $ |${await cluster.serviceIp('echo')}`, 'PS1 names the context');

  const down = await kvpn.run(['down', '--context', 'admin']);
  t.equal(down.code, EXIT.OK, down.stderr);
});
