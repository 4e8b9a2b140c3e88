// The Session in-process, without the daemon: its TUN, link and routes live
// in the test world's laptop namespace, its resolver change goes to the
// laptop's resolv.conf, and the laptop's own programs reach the cluster
// through it. close() undoes everything and says what. A start reads the
// kubeconfig once, also when it first cleans up after a crashed session.
// The staging user holds only docs/rbac.md's tunnel Role: the session is
// degraded (guessed Service range, DNS through the cluster DNS) and says so.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { streamLogger } from '../../src/host/log.js';
import { sessionId, sessionPaths } from '../../src/host/paths.js';
import { Session } from '../../src/session/session.js';
import { StateJournal } from '../../src/session/state-journal.js';
import type { ProgressEvent, SessionOptions } from '../../src/session/types.js';
import type { UndoOutcome } from '../../src/session/undo.js';
import { startCluster } from '../cluster/index.js';
import { countReads } from '../helpers/file-reads.js';
import { laptopApi } from './helpers/laptop-api.js';

t.test('a session in the laptop namespace, started and closed in-process', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-session-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const api = await laptopApi(t, cluster, dir);
  const resolvBefore = readFileSync(cluster.laptopResolvConf);
  const logLines: string[] = [];
  const steps: ProgressEvent[] = [];
  const options: SessionOptions = {
    kubeconfig: api.kubeconfig,
    context: 'staging',
    stateDir: join(dir, 'state'),
    runtimeDir: join(dir, 'run'),
    alsoProxy: [],
    neverProxy: ['10.244.1.0/24'],
    dns: 'resolvconf',
    allowConflictingRoutes: false,
    netns: cluster.laptop.name,
    resolvConfPath: cluster.laptopResolvConf,
  };

  const reads = countReads(t, api.kubeconfig);
  const session = await Session.start(options, {
    log: streamLogger((l) => logLines.push(l), 'debug'),
    onProgress: (e) => steps.push(e),
  });
  let closed = false;
  t.teardown(() => (closed ? undefined : session.close()));
  t.equal(reads(), 1, 'the start read the kubeconfig once');

  t.same(
    steps.map((s) => s.step),
    ['kubeconfig', 'relay', 'cidrs', 'tun', 'dns', 'verify'],
  );
  t.match(
    steps[5]?.detail,
    /^TCP to (kubernetes\.default|kube-dns\.kube-system) \(10\.96\.0\.(1|10):(443|53)\) (connected|refused) \(the namespace's Services may not be listed\)/,
    "verified through the tunnel against the cluster's own Services",
  );
  const summary = session.summary();
  t.match(summary, {
    context: 'staging',
    namespace: 'default',
    device: 'kvpn0',
    dns: { mode: 'resolvconf', server: '198.18.0.2' },
  });
  t.same(summary.excluded, [{ cidr: '10.244.1.0/24', reason: '--never-proxy' }], '--never-proxy carves its range out');
  t.same(
    summary.routes.map((r) => r.cidr),
    [
      '10.96.0.0/16',
      '10.244.0.0/24',
      '10.244.2.0/23',
      '10.244.4.0/22',
      '10.244.8.0/21',
      '10.244.16.0/20',
      '10.244.32.0/19',
      '10.244.64.0/18',
      '10.244.128.0/17',
    ],
  );

  t.same(
    summary.degradations.map((d) => d.restore),
    [
      { verbs: ['create'], resources: ['services'], namespace: 'default' },
      { verbs: ['list', 'watch'], resources: ['services', 'endpointslices.discovery.k8s.io'], namespace: 'default' },
    ],
    'the guessed Service range and the DNS without watches, each with the rule that restores it',
  );
  t.match(logLines.join(''), /warn degraded: Service range guessed as 10\.96\.0\.0\/16/);

  const curl = await cluster.exec('curl', ['-sS', '-m', '10', 'http://echo.default.svc.cluster.local/'], {
    timeoutMs: 15_000,
  });
  t.match(curl.stdout, /^echo-/, "the laptop's curl reaches the Service through the in-process session");
  // The world allocates ClusterIPs anywhere in 10.96.0.0/12: outside the guess, the answer routed it.
  const echoIp = await cluster.serviceIp('echo');
  const learned = echoIp.startsWith('10.96.') ? [] : [`${echoIp.split('.').slice(0, 2).join('.')}.0.0/16`];
  t.same(
    session
      .status()
      .routes.map((r) => r.cidr)
      .filter((c) => !c.startsWith('10.96.0.') && !c.startsWith('10.244.')),
    learned,
    `echo (${echoIp}): its /16 routed when DNS named it, if the guess missed it`,
  );
  const onNode1 = (await cluster.pods({ app: 'echo' }, 'default')).find((p) =>
    p.status?.podIP?.startsWith('10.244.1.'),
  );
  if (onNode1) {
    const direct = await cluster.exec('curl', ['-sS', '-m', '2', `http://${onNode1.status?.podIP}:8080/`], {
      timeoutMs: 5000,
    });
    t.not(direct.code, 0, 'a pod in the --never-proxy range is not reachable through kvpn');
  }
  const status = session.status();
  t.ok(status.traffic.tcpTotal >= 1);
  t.equal(status.state, 'running');

  const outcomes = await session.close();
  closed = true;
  t.same(
    outcomes.filter((o) => o.result !== 'undone').map((o) => o.what),
    [],
    'everything was there and removed',
  );
  t.match(
    outcomes.map((o) => o.change.kind),
    [
      ...learned.map(() => 'route'),
      'file',
      'dns',
      'route',
      'route',
      'route',
      'route',
      'route',
      'route',
      'route',
      'route',
      'route',
      'relay',
      'link',
      'file',
    ],
  );
  t.same(await session.close(), outcomes, 'close is idempotent');
  t.ok(readFileSync(cluster.laptopResolvConf).equals(resolvBefore), 'resolv.conf byte-identical');
  const links = (await cluster.exec('ip', ['-o', 'link'])).stdout;
  t.notMatch(links, 'kvpn0');
  t.same(
    await cluster.objects('configmaps', 'default').then((l) => l.filter((o) => o.metadata.name?.startsWith('kvpn'))),
    [],
  );
  t.match(logLines.join(''), /info session up startupMs=\d+/);

  t.test('a start after a crash cleans up with the kubeconfig it read', async (t) => {
    // A session of the same context whose process died, leaving its relay in the journal:
    // undoing it needs the cluster, so the cleanup needs a Kubernetes client.
    const dead = spawn('true');
    await once(dead, 'exit');
    const paths = sessionPaths({ stateDir: options.stateDir, runtimeDir: options.runtimeDir }, sessionId('staging'));
    const crashed = StateJournal.create(paths.stateFile, {
      id: paths.id,
      context: 'staging',
      namespace: 'default',
      cluster: summary.cluster,
      server: summary.server,
      kubeconfig: api.kubeconfig,
      netns: cluster.laptop.name,
      socket: paths.socket,
      logFile: paths.logFile,
      createdAt: new Date().toISOString(),
      ownerPid: dead.pid as number,
    });
    crashed.record({ kind: 'relay', namespace: 'default', sessionId: paths.id });
    const before = reads();
    const cleaned: UndoOutcome[] = [];
    const again = await Session.start(options, {
      log: streamLogger(() => {}, 'error'),
      onPreviousCleaned: (outcomes) => cleaned.push(...outcomes),
    });
    t.teardown(() => again.close());
    t.match(cleaned, [{ change: { kind: 'relay' }, result: 'absent' }], "the crashed session's relay was looked for");
    t.equal(reads() - before, 1, 'the start, cleanup included, read the kubeconfig once');
    t.same(
      (await again.close()).filter((o) => o.result === 'failed'),
      [],
    );
  });
});
