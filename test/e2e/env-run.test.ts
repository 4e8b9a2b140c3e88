// `kvpn run`: a command gets the workload's environment and reaches the
// Services it names through a running `kvpn up`; without a session it is
// refused with the way to start one; the command's exit status is kvpn's.
import t from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import { startCluster } from '../cluster/index.js';
import { realWorld } from '../cluster/worlds.js';
import { kvpnIn } from './helpers/kvpn.js';

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

  const down = await kvpn.run(['down', '--context', 'admin']);
  t.equal(down.code, EXIT.OK, down.stderr);
});
