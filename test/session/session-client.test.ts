// One read of the kubeconfig per process, one probe of the API: every client
// a process needs (the invoking user's, under sudo the credential overlay's,
// the crash cleanup's) is made from what loadKubeconfig read, and probeApi
// is the only reachability check (the CLI's preflight and the session's
// first step both use it).
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EXEC_AS_ENV, type InvokingUser } from '../../src/host/credentials.js';
import { silentLogger } from '../../src/host/log.js';
import { cleanupDeps } from '../../src/session/cleanup.js';
import { asInvokingUser, connectAsUser, loadKubeconfig, probeApi } from '../../src/session/session-client.js';
import type { SessionState } from '../../src/session/state-journal.js';
import { countReads } from '../helpers/file-reads.js';
import { writeKubeconfig } from '../helpers/kubeconfig.js';

interface Api {
  dir: string;
  kubeconfig: string;
  requests: string[];
  /** Status code of the next answers (200 lists no pods). */
  answer: number;
  close(): Promise<void>;
}

async function api(t: Test): Promise<Api> {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-client-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a: Api = {
    dir,
    kubeconfig: join(dir, 'config'),
    requests: [],
    answer: 200,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    a.requests.push(`${req.method} ${req.url}`);
    res.statusCode = a.answer;
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify(
        a.answer === 200
          ? { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [] }
          : { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'no', code: a.answer },
      ),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => (server.listening ? a.close() : undefined));
  writeKubeconfig(a.kubeconfig, {
    server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    insecure: true,
    user: { name: 'dev', token: 'abc' },
    contexts: [{ name: 'staging', namespace: 'default' }],
    current: 'staging',
  });
  return a;
}

function state(kubeconfig: string | undefined, context: string): SessionState {
  return {
    version: 1,
    id: 'staging-0',
    context,
    namespace: 'default',
    cluster: 'c',
    server: 'http://127.0.0.1',
    kubeconfig,
    socket: '/nonexistent.sock',
    logFile: '/nonexistent.log',
    createdAt: new Date(0).toISOString(),
    ownerPid: 1,
    changes: [],
  };
}

const SOMEONE: InvokingUser = { uid: 65534, gid: 65534, name: 'nobody', home: '/', env: {}, cwd: '/' };

t.test('the kubeconfig is read once; the clients made from it read nothing more', async (t) => {
  const a = await api(t);
  const reads = countReads(t, a.kubeconfig);
  t.teardown(() => {
    delete process.env[EXEC_AS_ENV];
  });
  const loaded = loadKubeconfig({ kubeconfig: a.kubeconfig, context: 'staging' });
  t.equal(reads(), 1, 'loadKubeconfig reads the file');

  const client = await connectAsUser(loaded, undefined);
  t.equal(client, loaded.client, "as a real root login (no sudo): the kubeconfig's own user");
  client.close();

  const overlaid = asInvokingUser(loaded, SOMEONE);
  t.not(overlaid, loaded.client, 'under sudo: another client…');
  t.match(overlaid, { contextName: 'staging', userName: 'dev', namespace: 'default' }, '…of the same context');
  t.match(JSON.parse(process.env[EXEC_AS_ENV] ?? '{}'), { uid: 65534, kubeconfig: a.kubeconfig, context: 'staging' });

  // A crashed session of the same files and context is cleaned up with what was read…
  const dirs = { stateDir: join(a.dir, 'state'), runtimeDir: join(a.dir, 'run') };
  const same = await cleanupDeps(dirs, state(a.kubeconfig, 'staging'), SOMEONE, silentLogger, loaded);
  t.match(await same.kube(), { contextName: 'staging', userName: 'dev' });
  same.close();
  t.equal(reads(), 1, 'no second read, whoever the clients are for');

  // …one that named other files reads those.
  const other = await cleanupDeps(
    dirs,
    state(`${a.kubeconfig}:${join(a.dir, 'more')}`, 'staging'),
    undefined,
    silentLogger,
    loaded,
  );
  await other.kube();
  other.close();
  t.equal(reads(), 2, "another session's kubeconfig list is its own to read");
});

t.test('probeApi: one request; only a refusal to list pods (403) passes', async (t) => {
  const a = await api(t);
  const { client } = loadKubeconfig({ kubeconfig: a.kubeconfig });
  t.teardown(() => client.close());
  await probeApi(client);
  t.same(a.requests, ['GET /api/v1/namespaces/default/pods?limit=1']);
  a.answer = 403;
  await probeApi(client);
  a.answer = 401;
  await t.rejects(probeApi(client), { code: 'KVPN_ERR_API_UNAUTHORIZED' });
  t.equal(a.requests.length, 3, 'one request per probe');
});

t.test('connectAsUser fails on an unreachable API server', async (t) => {
  const a = await api(t);
  await a.close();
  const loaded = loadKubeconfig({ kubeconfig: a.kubeconfig });
  await t.rejects(connectAsUser(loaded, undefined), { code: 'KVPN_ERR_API_UNREACHABLE' });
});
