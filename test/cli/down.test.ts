// `kvpn down` after the daemon was killed: status shows the session as
// crashed, down removes everything its state file records (in a namespace
// of our own) and says what; a second down has nothing to do.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../../src/cli/app.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { memoryIo } from '../../src/cli/io.js';
import { sessionId, sessionPaths } from '../../src/host/paths.js';
import { processStartTime } from '../../src/host/process-info.js';
import { StateJournal } from '../../src/session/state-journal.js';
import { routeTable } from '../../src/tun/routes.js';
import { NetNs } from '../helpers/netns.js';

t.test('down after kill -9 removes what the state file records and says so', async (t) => {
  const ns = await NetNs.create(t, 'kvd');
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-down-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dirs = { stateDir: join(dir, 'state'), runtimeDir: join(dir, 'run') };
  const env = { ...process.env, KVPN_STATE_DIR: dirs.stateDir, KVPN_RUNTIME_DIR: dirs.runtimeDir };
  const paths = sessionPaths(dirs, sessionId('staging'));

  // A "daemon" that made its changes, then was killed with SIGKILL.
  const daemon = spawn('sleep', ['60'], { stdio: 'ignore' });
  const pid = daemon.pid as number;
  const journal = StateJournal.create(paths.stateFile, {
    id: paths.id,
    context: 'staging',
    namespace: 'default',
    cluster: 'kvpn-test',
    server: 'https://127.0.0.1:6443',
    netns: ns.name,
    socket: paths.socket,
    logFile: paths.logFile,
    createdAt: new Date().toISOString(),
    ownerPid: pid,
    ownerStart: processStartTime(pid),
  });
  journal.record({ kind: 'process', pid, startTime: processStartTime(pid), what: 'kvpn daemon' });
  journal.record({ kind: 'file', path: paths.sessionDir, what: 'session directory' });
  mkdirSync(paths.sessionDir, { recursive: true });
  journal.record({ kind: 'link', device: 'kvpn0' });
  await ns.ip('link', 'add', 'kvpn0', 'type', 'veth', 'peer', 'name', 'kvpnpeer');
  await ns.ip('link', 'set', 'kvpn0', 'up');
  journal.record({ kind: 'route', destination: '10.96.0.0/12', device: 'kvpn0' });
  await ns.ip('route', 'add', '10.96.0.0/12', 'dev', 'kvpn0');
  journal.record({ kind: 'file', path: paths.socket, what: 'control socket' });
  mkdirSync(dirs.runtimeDir, { recursive: true });
  daemon.kill('SIGKILL');
  await once(daemon, 'exit');

  const status = memoryIo(env);
  t.equal(await runCli(['status'], status), EXIT.OK);
  t.match(status.stdout, 'Session staging (crashed: the daemon is not running)');
  t.match(status.stdout, 'clean up    kvpn down --context staging');
  const statusJson = memoryIo(env);
  await runCli(['status', '--json'], statusJson);
  t.match(JSON.parse(statusJson.stdout), { schema: 1, sessions: [{ context: 'staging', state: 'crashed' }] });

  const down = memoryIo(env);
  t.equal(await runCli(['down'], down), EXIT.OK, down.stderr);
  t.equal(
    down.stdout,
    [
      'Session staging was not running (crashed or killed); cleaning up what it left:',
      `  ✓ already gone: kvpn daemon (pid ${pid})`,
      '  ✓ removed: route 10.96.0.0/12 dev kvpn0',
      '  ✓ removed: link kvpn0',
      `  ✓ removed: session directory ${paths.sessionDir}`,
      'Done: nothing from kvpn is left on this machine or in the cluster.',
      '',
    ].join('\n'),
  );
  const routes = await routeTable({ netns: ns.name });
  t.notOk(await routes.linkExists('kvpn0'));
  t.same(await routes.listRoutes(), []);
  t.notOk(existsSync(paths.stateFile), 'no state file');
  t.notOk(existsSync(paths.sessionDir));

  const again = memoryIo(env);
  t.equal(await runCli(['down'], again), EXIT.OK);
  t.match(again.stdout, 'nothing to clean up');
});
