// Under sudo, the user's exec credential plugin runs as the user, with the
// user's environment, never as root: the session's kubeconfig has kvpn's
// own helper overlaid as the context's user, which drops to the user before
// running the plugin.
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EXEC_AS_ENV, enableCredentialOverlay, invokingUser, userKubeconfigPaths } from '../../src/host/credentials.js';
import { KubeClient } from '../../src/kube/client.js';
import { writeKubeconfig } from '../helpers/kubeconfig.js';

const NOBODY = 65534;

t.test('the exec plugin runs as the invoking user with their environment; the API sees its token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-cred-'));
  chmodSync(dir, 0o777);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(String(req.headers.authorization));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;

  const plugin = join(dir, 'cloud-auth');
  const trace = join(dir, 'trace');
  writeFileSync(
    plugin,
    `#!/bin/sh
echo "uid=$(id -u) gid=$(id -g) FOO=$FOO HOME=$HOME" >> ${trace}
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-from-plugin"}}'
`,
    { mode: 0o755 },
  );
  const kubeconfig = join(dir, 'config');
  writeKubeconfig(kubeconfig, {
    server: `http://127.0.0.1:${port}`,
    insecure: true,
    user: { name: 'dev', execCommand: plugin },
    contexts: [{ name: 'staging', namespace: 'default' }],
    current: 'staging',
  });

  // What sudo leaves us: SUDO_* in the environment, the user's own environment from the handoff.
  const user = invokingUser(
    { SUDO_UID: String(NOBODY), SUDO_GID: String(NOBODY), SUDO_USER: 'nobody', PATH: '/usr/bin:/bin' },
    {
      version: 1,
      uid: NOBODY,
      gid: NOBODY,
      cwd: dir,
      env: { FOO: 'bar', HOME: dir, PATH: '/usr/bin:/bin', KUBECONFIG: 'config' },
    },
  );
  t.ok(user);
  if (!user) return;
  const paths = userKubeconfigPaths(user);
  t.same(paths, [kubeconfig], "the user's relative KUBECONFIG, from the user's directory");
  const before = readdirSync(dir).sort();
  const helper = enableCredentialOverlay(user, paths, 'staging');
  t.teardown(() => {
    delete process.env[EXEC_AS_ENV];
  });
  t.notMatch(JSON.stringify(helper), 'bar', "the user's environment is not in the kubeconfig entry");
  t.same(readdirSync(dir).sort(), before, 'nothing is written to disk');

  const client = KubeClient.load({ kubeconfig: paths.join(':'), context: 'staging' }).withExecUser(helper);
  t.teardown(() => client.close());
  await client.request('GET', '/api/v1/namespaces/default/pods');
  t.same(seen, ['Bearer tok-from-plugin'], "the API got the plugin's token");
  t.equal(
    readFileSync(trace, 'utf8'),
    `uid=${NOBODY} gid=${NOBODY} FOO=bar HOME=${dir}\n`,
    'the plugin ran once, as the user, with their environment',
  );
  await client.request('GET', '/api/v1/namespaces/default/pods');
  t.equal(readFileSync(trace, 'utf8').split('\n').length - 1, 1, 'the credential is reused for a while');
});

t.test('a real root login (no sudo) uses its own credentials directly', async (t) => {
  t.equal(invokingUser({ PATH: '/usr/bin' }), undefined);
  t.equal(invokingUser({ SUDO_UID: '0' }), undefined, 'sudo from root to root');
});
