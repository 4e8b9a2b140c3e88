// The command line as a user meets it: help, version, completion, usage
// errors with their fix and exit code, and the commands that have nothing to
// act on. Runs runCli in-process (what main.ts calls) with captured output.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runCli } from '../../src/cli/app.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { memoryIo } from '../../src/cli/io.js';
import { writeKubeconfig } from '../helpers/kubeconfig.js';

function dirs(t: Test): { env: NodeJS.ProcessEnv; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    env: {
      ...process.env,
      KVPN_STATE_DIR: join(dir, 'state'),
      KVPN_RUNTIME_DIR: join(dir, 'run'),
      KUBECONFIG: join(dir, 'none'),
    },
  };
}

async function cli(t: Test, args: string[], env?: NodeJS.ProcessEnv) {
  const io = memoryIo(env ?? dirs(t).env);
  const code = await runCli(args, io);
  return { code, out: io.stdout, err: io.stderr };
}

t.test('--help lists every command; each command has its own help', async (t) => {
  const top = await cli(t, ['--help']);
  t.equal(top.code, EXIT.OK);
  for (const c of ['up', 'status', 'down', 'logs', 'expose', 'leave', 'env', 'run', 'version', 'completion'])
    t.match(top.out, new RegExp(`kvpn ${c}\\b`));
  for (const c of ['up', 'status', 'down', 'logs', 'expose', 'leave', 'env', 'run']) {
    const r = await cli(t, [c, '--help']);
    t.equal(r.code, EXIT.OK, `${c} --help`);
    t.match(r.out, `kvpn ${c}`);
  }
  const up = await cli(t, ['up', '--help']);
  for (const flag of [
    '--context',
    '--namespace',
    '--kubeconfig',
    '--also-proxy',
    '--never-proxy',
    '--relay-image',
    '--dns',
    '--foreground',
  ]) {
    t.match(up.out, flag);
  }
  t.notMatch(up.out, '--handoff', 'internal flags stay hidden');
});

t.test('kubectl plugin: invoked as kubectl-vpn, help speaks of `kubectl vpn`', async (t) => {
  const io = memoryIo(dirs(t).env);
  t.equal(await runCli(['--help'], io, '/usr/local/bin/kubectl-vpn'), EXIT.OK);
  t.match(io.stdout, 'kubectl vpn up');
});

t.test('version prints the package version, in text and JSON', async (t) => {
  const text = await cli(t, ['version']);
  t.match(text.out, /^kvpn 0\.\d+\.\d+ \(tunnel protocol \d+, node v\d+/);
  const json = JSON.parse((await cli(t, ['version', '--json'])).out);
  t.match(json, { version: /^\d+\.\d+\.\d+/, tunnelProtocol: Number, node: process.version });
  t.equal((await cli(t, ['--version'])).out, text.out, '--version is the same');
});

t.test('completion prints a bash/zsh script', async (t) => {
  const r = await cli(t, ['completion']);
  t.equal(r.code, EXIT.OK);
  t.match(r.out, '###-begin-kvpn-completions-###');
  t.match(r.out, /_kvpn_yargs_completions|complete -o/);
});

t.test('usage errors: one sentence, the fix, the code, exit 2', async (t) => {
  const unknown = await cli(t, ['stauts']);
  t.equal(unknown.code, EXIT.USAGE);
  t.match(
    unknown.err,
    /kvpn: Unknown argument: stauts\.\n {2}fix: Did you mean status\? See `kvpn --help`\.\n {2}\(KVPN_ERR_USAGE/,
  );
  const none = await cli(t, []);
  t.equal(none.code, EXIT.USAGE);
  t.match(none.err, 'Say what to do');
  const badCidr = await cli(t, ['up', '--never-proxy', 'db.internal']);
  t.equal(badCidr.code, EXIT.USAGE);
  t.match(badCidr.err, '--never-proxy "db.internal" is not a CIDR');
  const badHost = await cli(t, ['up', '--also-proxy', '10.0.0.0/40']);
  t.equal(badHost.code, EXIT.USAGE);
  t.match(badHost.err, 'is not a CIDR or a host name');
  const badDns = await cli(t, ['up', '--dns', 'bind']);
  t.equal(badDns.code, EXIT.USAGE);
  t.match(badDns.err, 'Choices: "auto", "resolved", "resolvconf", "off"');
  const badMtu = await cli(t, ['up', '--mtu', '500']);
  t.equal(badMtu.code, EXIT.USAGE);
  t.match(badMtu.err, 'Use an MTU between 1280 and 65535');
});

t.test('an unknown context names the contexts there are, before anything is changed', async (t) => {
  const { dir, env } = dirs(t);
  const kubeconfig = join(dir, 'config');
  writeKubeconfig(kubeconfig, {
    server: 'https://127.0.0.1:1',
    user: { token: 'abc' },
    contexts: [{ name: 'staging', namespace: 'default' }, { name: 'admin' }],
    current: 'staging',
  });
  const r = await cli(t, ['up', '--kubeconfig', kubeconfig, '--context', 'stagign'], env);
  t.equal(r.code, EXIT.CONFIG);
  t.match(r.err, 'kvpn: Context "stagign" is not in the kubeconfig.');
  t.match(r.err, 'Pick one of: staging, admin (did you mean "staging"?)');
  t.match(r.err, 'KVPN_ERR_UNKNOWN_CONTEXT');
  t.equal(r.out, '', 'nothing printed as progress');
});

t.test('no session: status exits 7 (text and JSON), down and logs have nothing to do', async (t) => {
  const { env } = dirs(t);
  const status = await cli(t, ['status'], env);
  t.equal(status.code, EXIT.NO_SESSION);
  t.match(status.out, 'No kvpn session is running');
  const json = await cli(t, ['status', '--json'], env);
  t.equal(json.code, EXIT.NO_SESSION);
  t.same(JSON.parse(json.out), { schema: 1, sessions: [] });
  const down = await cli(t, ['down'], env);
  t.equal(down.code, EXIT.OK, 'down is idempotent');
  t.match(down.out, 'nothing to clean up');
  const logs = await cli(t, ['logs'], env);
  t.equal(logs.code, EXIT.NO_SESSION);
  for (const args of [
    ['expose', '8080'],
    ['leave', 'web'],
    ['expose', '8080', '--context', 'staging'],
  ]) {
    const r = await cli(t, args, env);
    t.equal(r.code, EXIT.NO_SESSION, args.join(' '));
    t.match(r.err, /no kvpn session is running[\s\S]*kvpn up[\s\S]*KVPN_ERR_NO_SESSION/i, args.join(' '));
  }
});

t.test('expose: LOCALPORT[:PORT] is checked before any session is asked', async (t) => {
  const { env } = dirs(t);
  for (const bad of ['0', '65536', '80:0', 'http', '80:', ':80', '1:2:3']) {
    const r = await cli(t, ['expose', bad], env);
    t.equal(r.code, EXIT.USAGE, bad);
    t.match(r.err, `"${bad}" is not LOCALPORT[:PORT]`, bad);
  }
});

t.test('ui: no session, a bad --ui-port, and where a browser would open', async (t) => {
  const { env } = dirs(t);
  const ui = await cli(t, ['ui'], env);
  t.equal(ui.code, EXIT.NO_SESSION);
  t.match(ui.err, 'No kvpn session is running');
  for (const port of ['0', '70000', '1.5']) {
    const r = await cli(t, ['up', '--ui-port', port], env);
    t.equal(r.code, EXIT.USAGE, `--ui-port ${port}`);
    t.match(r.err, `--ui-port ${port} is not a port`);
  }
  const { browserOpener } = await import('../../src/cli/ui.js');
  t.equal(browserOpener({ DISPLAY: ':0' }, 'linux'), 'xdg-open');
  t.equal(browserOpener({ WAYLAND_DISPLAY: 'wayland-0' }, 'linux'), 'xdg-open');
  t.equal(browserOpener({}, 'linux'), undefined, 'no display: print it');
  t.equal(browserOpener({}, 'darwin'), 'open');
});
