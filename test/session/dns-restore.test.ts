// Regression: `kill -9` of the daemon, then at once `kvpn down`, printed
// "✓ already gone: kvpn daemon (pid N)" and then "✗ FAILED to remove:
// resolver configuration (DNS is configured by another kvpn session (pid
// N))" and exited 5 with resolv.conf still naming the dead daemon's server:
// the daemon was a zombie (its parent had not reaped it yet), dead to the
// session journal but alive to the DNS module's own owner check. Here the
// killed daemon's parent never reaps it, and `down` must still put the
// resolver back. Everything happens in a network namespace of our own,
// whose `ip netns exec` mount namespace shows /etc/netns/<ns>/resolv.conf
// as /etc/resolv.conf.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import { sessionId, sessionPaths } from '../../src/host/paths.js';
import { isAlive } from '../../src/host/process-info.js';
import { selfCommand } from '../../src/host/self-command.js';
import { isRoot, NetNs } from '../helpers/netns.js';

const LOADER = fileURLToPath(new URL('../../scripts/ts-loader.mjs', import.meta.url));
const DAEMON = fileURLToPath(new URL('./helpers/resolver-daemon.ts', import.meta.url));
const ORIGINAL = '# the namespace resolver\nnameserver 192.0.2.53\nsearch corp.example\noptions timeout:1\n';

/** The state letter of /proc/PID/stat ('Z' for a zombie), or undefined once the pid is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Runs a command inside the namespace; resolves with its exit code and output (never rejects on exit codes). */
function execIn(ns: NetNs, cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = ns.spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test(
  'kill -9 of the daemon, still a zombie when `down` runs: the resolver is restored and down succeeds',
  { skip: !isRoot() && 'needs root' },
  async (t) => {
    const ns = await NetNs.create(t, 'kvz');
    const etc = `/etc/netns/${ns.name}`;
    mkdirSync(etc, { recursive: true });
    t.teardown(() => rmSync(etc, { recursive: true, force: true }));
    const resolvConf = join(etc, 'resolv.conf');
    writeFileSync(resolvConf, ORIGINAL);
    const dir = mkdtempSync(join(tmpdir(), 'kvpn-zombie-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const dirs = { stateDir: join(dir, 'state'), runtimeDir: join(dir, 'run') };
    const env = { ...process.env, KVPN_STATE_DIR: dirs.stateDir, KVPN_RUNTIME_DIR: dirs.runtimeDir, NODE_OPTIONS: '' };

    // The parent: a shell that starts the daemon in the background, then becomes `sleep`, which never wait()s.
    const parent = ns.spawn(
      'sh',
      [
        '-c',
        '"$@" & exec sleep 600',
        'sh',
        process.execPath,
        '--import',
        LOADER,
        DAEMON,
        JSON.stringify({ ...dirs, context: 'staging' }),
      ],
      { env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    t.teardown(() => parent.kill('SIGKILL'));
    const lines = createInterface({ input: parent.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    const ready = JSON.parse((await lines.next()).value as string) as { ready: boolean; pid: number };
    t.equal(ready.ready, true);
    const pid = ready.pid;
    t.match(readFileSync(resolvConf, 'utf8'), /^# Written by kvpn\./, 'the resolver points at kvpn');

    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 200 && procState(pid) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
    t.equal(procState(pid), 'Z', 'the killed daemon is a zombie: its parent has not reaped it');
    t.notOk(isAlive(pid), 'a zombie counts as dead');

    const self = selfCommand();
    const down = await execIn(ns, self.command, [...self.args, 'down'], env);
    t.equal(down.code, EXIT.OK, down.stderr);
    const paths = sessionPaths(dirs, sessionId('staging'));
    t.equal(
      down.stdout,
      [
        'Session staging was not running (crashed or killed); cleaning up what it left:',
        `  ✓ already gone: kvpn daemon (pid ${pid})`,
        '  ✓ removed: resolver configuration (resolvconf /etc/resolv.conf)',
        `  ✓ removed: session directory ${paths.sessionDir}`,
        'Done: nothing from kvpn is left on this machine or in the cluster.',
        '',
      ].join('\n'),
    );
    t.equal(procState(pid), 'Z', 'still a zombie when down finished');
    t.equal(readFileSync(resolvConf, 'utf8'), ORIGINAL, 'resolv.conf restored byte for byte');
    t.notOk(existsSync(paths.stateFile), 'no state file');
    t.same(readdirSync(join(dirs.stateDir, 'dns')), [], 'no resolver backup left');
  },
);
