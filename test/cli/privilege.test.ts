// Without root, `kvpn up` checks what it can as the user, then re-runs itself
// through sudo (saying why, handing its environment over on stdin) — or,
// without sudo, explains how to run it. Runs the real CLI as uid nobody.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import { selfCommand } from '../../src/host/self-command.js';
import { writeKubeconfig } from '../helpers/kubeconfig.js';

const NOBODY = 65534;

interface World {
  dir: string;
  kubeconfig: string;
  env: NodeJS.ProcessEnv;
  requests: string[];
}

async function world(t: Test, opts: { serverUp: boolean }): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-priv-'));
  chmodSync(dir, 0o777);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [] }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  if (opts.serverUp) t.teardown(() => server.close());
  else server.close();
  const kubeconfig = join(dir, 'config');
  writeKubeconfig(kubeconfig, {
    server: `http://127.0.0.1:${port}`,
    insecure: true,
    user: { token: 'abc' },
    contexts: [{ name: 'staging', namespace: 'default' }],
    current: 'staging',
  });
  const env = {
    PATH: `${join(dir, 'bin')}:/usr/bin:/bin`,
    HOME: dir,
    KUBECONFIG: kubeconfig,
    KVPN_STATE_DIR: join(dir, 'state'),
    KVPN_RUNTIME_DIR: join(dir, 'run'),
    FOO: 'from-the-user',
  };
  return { dir, kubeconfig, env, requests };
}

function runAsNobody(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const self = selfCommand();
  return new Promise((resolve) => {
    execFile(
      self.command,
      [...self.args, ...args],
      { env, uid: NOBODY, gid: NOBODY, cwd: env.HOME },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

t.test('not root and no sudo: a clear error with the way out, nothing changed', async (t) => {
  const w = await world(t, { serverUp: true });
  const r = await runAsNobody(['up', '--context', 'staging'], w.env);
  t.equal(r.code, EXIT.SYSTEM);
  t.match(
    r.stderr,
    'kvpn: `kvpn up` needs root to create the TUN device, routes and resolver settings, and sudo is not available.',
  );
  t.match(r.stderr, "fix: Run it as root, e.g. `su -c 'kvpn up'`");
  t.match(r.stderr, 'KVPN_ERR_NEEDS_ROOT');
  t.same(w.requests, ['GET /api/v1/namespaces/default/pods?limit=1'], 'credentials were checked as the user first');
  t.notOk(existsSync(join(w.dir, 'state')), 'no state was written');
});

t.test('not root, sudo available: kvpn re-runs itself through sudo and hands over the environment', async (t) => {
  const w = await world(t, { serverUp: true });
  const bin = join(w.dir, 'bin');
  mkdirSync(bin, { mode: 0o755 });
  chmodSync(bin, 0o755);
  const record = join(w.dir, 'sudo.args');
  writeFileSync(
    join(bin, 'sudo'),
    `#!/bin/sh
for a in "$@"; do printf '%s\\n' "$a"; done > '${record}'
cat > '${record}.stdin'
exit 0
`,
    { mode: 0o755 },
  );
  const r = await runAsNobody(['up', '--context', 'staging', '--also-proxy', '10.20.0.0/16', '--dns', 'off'], w.env);
  t.equal(r.code, EXIT.OK, "sudo's exit code is kvpn's");
  t.match(
    r.stderr,
    'kvpn up needs root to create the TUN device, routes and resolver settings; asking sudo (your Kubernetes credentials stay yours).',
  );
  const args = readFileSync(record, 'utf8').trim().split('\n');
  t.equal(args[0], '-p');
  t.match(args[1], /^\[sudo\] password for %u \(kvpn up\): $/);
  t.equal(args[2], '--');
  const up = args.indexOf('up');
  t.ok(up > 3, 'then node and kvpn itself');
  t.same(args.slice(up), [
    'up',
    '--context',
    'staging',
    '--also-proxy',
    '10.20.0.0/16',
    '--dns',
    'off',
    '--state-dir',
    join(w.dir, 'state'),
    '--runtime-dir',
    join(w.dir, 'run'),
    '--handoff',
    'stdin',
  ]);
  const handoff = JSON.parse(readFileSync(`${record}.stdin`, 'utf8'));
  t.match(handoff, {
    version: 1,
    uid: NOBODY,
    gid: NOBODY,
    cwd: w.dir,
    env: { FOO: 'from-the-user', KUBECONFIG: w.kubeconfig },
  });
});

t.test('an unreachable API server is reported before asking for a password', async (t) => {
  const w = await world(t, { serverUp: false });
  const r = await runAsNobody(['up', '--context', 'staging'], w.env);
  t.equal(r.code, EXIT.CLUSTER);
  t.match(r.stderr, /kvpn: Cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  t.match(r.stderr, 'KVPN_ERR_API_UNREACHABLE');
  t.notMatch(r.stderr, 'asking sudo');
  t.same(readdirSync(w.dir).sort(), ['config'], 'nothing else was created');
});
