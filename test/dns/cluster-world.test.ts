// Against the test world (test/cluster): the DNS server runs in the
// laptop namespace with the namespace-scoped `staging-reader` user (the
// tunnel Role plus docs/rbac.md's optional reads, so it watches Services in
// its namespace), the laptop's resolv.conf points at it, and dig/getent
// there resolve every record kind; names in namespaces it cannot watch resolve through the
// cluster DNS (reached by port-forward, standing in for the tunnel);
// Services created or deleted show up; names outside the zone go to the
// laptop's own upstream; resolv.conf comes back byte for byte (after down,
// and after a killed daemon plus a repair); /etc/hosts is never touched.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createSystemDns, type ResolverRecord } from '../../src/dns/system-dns.js';
import { isRoot } from '../helpers/netns.js';
import { parseDig } from './dig.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const worldIndex = join(repo, 'test', 'cluster', 'index.ts');
const DNS_ADDRESS = '10.96.53.53';

/** The parts of test/cluster's Cluster used here. */
interface World {
  kubeconfigPath: string;
  laptopResolvConf: string;
  dnsServiceIp: string;
  upstreamDnsIp: string;
  upstreamTestName: string;
  upstreamTestIp: string;
  stop(): Promise<void>;
  exec(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  spawn(cmd: string, args: string[], opts: object): ChildProcess;
  serviceIp(name: string, namespace?: string): Promise<string>;
  kubectl(
    args: string[],
    opts: { context?: string; input?: string },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  upstreamDnsQueries(): Promise<{ name: string; type: string; rcode: string }[]>;
}

t.test(
  'the DNS server in the test world',
  { skip: (!isRoot() && 'needs root') || (!existsSync(worldIndex) && 'test/cluster is not there') },
  async (t) => {
    // Imported by path (not statically) so this file stands even where test/cluster is absent.
    const { startCluster } = (await import(worldIndex)) as { startCluster(): Promise<World> };
    const cluster = await startCluster();
    t.teardown(() => cluster.stop());
    const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
    const hostsBefore = sha('/etc/hosts');
    const original = readFileSync(cluster.laptopResolvConf);
    const sh = async (cmd: string, args: string[]) => {
      const r = await cluster.exec(cmd, args);
      return r.stdout;
    };
    await sh('ip', ['addr', 'add', `${DNS_ADDRESS}/32`, 'dev', 'lo']);
    const stateDir = mkdtempSync(join(tmpdir(), 'kvpn-dns-world-'));
    t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
    const config = {
      kubeconfig: cluster.kubeconfigPath,
      context: 'staging-reader',
      tunnelContext: 'admin',
      namespace: 'default',
      resolvConfPath: cluster.laptopResolvConf,
      stateDir,
      address: DNS_ADDRESS,
      clusterDns: cluster.dnsServiceIp,
    };
    const start = async () => {
      const child: ChildProcess = cluster.spawn(
        process.execPath,
        ['--import', join(repo, 'scripts', 'ts-loader.mjs'), join(here, 'world-daemon.ts'), JSON.stringify(config)],
        {
          cwd: repo,
          stdio: ['pipe', 'pipe', 'inherit'],
        },
      );
      t.teardown(() => child.kill('SIGKILL'));
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
      const next = async () =>
        JSON.parse(((await lines.next()).value as string | undefined) ?? 'null') as Record<string, unknown>;
      const ask = async (command: string) => {
        child.stdin?.write(`${command}\n`);
        return next();
      };
      return { child, first: await next(), ask };
    };
    const dig = async (args: string[]) =>
      parseDig(await sh('dig', ['+tries=1', '+time=5', '+nocmd', '+nostats', ...args]));

    const d = await start();
    t.match(d.first, {
      ready: true,
      applied: { mode: 'resolvconf', upstreams: [{ address: cluster.upstreamDnsIp }] },
    });
    t.match(
      d.first.forbidden,
      { services: ['*'] },
      'staging-reader may not watch cluster-wide: fell back to its namespace',
    );

    const echoIp = await cluster.serviceIp('echo');
    t.same(
      (await dig(['echo.default.svc.cluster.local'])).answer,
      [`echo.default.svc.cluster.local. A ${echoIp}`],
      'A',
    );
    t.equal((await dig(['echo.default.svc.cluster.local', 'AAAA'])).status, 'NOERROR', 'AAAA NODATA');
    t.match(
      (await dig(['_http._tcp.echo.default.svc.cluster.local', 'SRV'])).answer,
      [/ SRV 0 100 80 echo\.default\.svc\.cluster\.local\.$/],
      'SRV',
    );
    t.same(
      (await dig(['-x', echoIp])).answer.map((a) => a.split(' ').pop()),
      ['echo.default.svc.cluster.local.'],
      'PTR',
    );
    t.equal((await dig(['peers.default.svc.cluster.local'])).answer.length, 3, 'headless: 3 ready peers');
    t.match(
      (await dig(['peers-0.peers.default.svc.cluster.local'])).answer,
      [/^peers-0\.peers\.default\.svc\.cluster\.local\. A 10\.244\./],
      'StatefulSet pod name',
    );
    t.same(
      (await dig(['ext.default.svc.cluster.local'])).answer,
      [
        `echo.default.svc.cluster.local. A ${echoIp}`,
        'ext.default.svc.cluster.local. CNAME echo.default.svc.cluster.local.',
      ],
      'ExternalName',
    );
    const nx = await dig(['nope.default.svc.cluster.local']);
    t.equal(nx.status, 'NXDOMAIN');
    t.match(nx.authority, [/ SOA /]);
    t.match(
      await sh('getent', ['hosts', 'echo']),
      new RegExp(`^${echoIp.replaceAll('.', '\\.')}\\s`),
      'getent hosts echo (search list)',
    );

    // shop is not staging-reader's: through the cluster DNS.
    const webIp = await cluster.serviceIp('web', 'shop');
    t.match(
      await sh('getent', ['hosts', 'web.shop']),
      new RegExp(`^${webIp.replaceAll('.', '\\.')}\\s+web\\.shop\\.svc\\.cluster\\.local`),
      'getent hosts web.shop',
    );
    t.same((await dig(['web.shop.svc.cluster.local'])).answer, [`web.shop.svc.cluster.local. A ${webIp}`]);
    const stats = await d.ask('stats');
    t.ok((stats.tunnelDials as number) >= 1, 'the forward went through the "tunnel"');
    t.ok(((stats.stats as Record<string, number>).forwardedCluster ?? 0) >= 1);

    // A Service created after up, then deleted.
    const created = Date.now();
    const manifest = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'late', namespace: 'default' },
      spec: { ports: [{ port: 80 }] },
    };
    const createdOut = await cluster.kubectl(['apply', '-f', '-'], {
      context: 'admin',
      input: JSON.stringify(manifest),
    });
    t.equal(createdOut.code, 0, `kubectl create: ${createdOut.stderr}`);
    let late = await dig(['late.default.svc.cluster.local']);
    while (late.answer.length === 0 && Date.now() - created < 10_000)
      late = await dig(['late.default.svc.cluster.local']);
    t.equal(late.answer.length, 1, 'a new Service resolves');
    t.comment(`new Service resolvable after ${Date.now() - created} ms`);
    await cluster.kubectl(['delete', '-n', 'default', 'service', 'late'], { context: 'admin' });
    const deleted = Date.now();
    while ((await dig(['late.default.svc.cluster.local'])).status !== 'NXDOMAIN' && Date.now() - deleted < 10_000);
    t.equal((await dig(['late.default.svc.cluster.local'])).status, 'NXDOMAIN', 'a deleted one stops resolving');
    t.comment(`deleted Service gone after ${Date.now() - deleted} ms`);

    // Outside the zone: the laptop's own upstream answers, directly.
    t.match(
      await sh('getent', ['hosts', cluster.upstreamTestName]),
      new RegExp(`^${cluster.upstreamTestIp.replaceAll('.', '\\.')}\\s`),
    );
    const upstream = await cluster.upstreamDnsQueries();
    t.ok(
      upstream.some((q) => q.name === cluster.upstreamTestName),
      'asked of the upstream',
    );
    t.same(
      upstream.filter((q) => /cluster\.local$/.test(q.name) || q.name === 'web.shop'),
      [],
      'no cluster name reached the upstream',
    );

    t.match(await d.ask('down'), { down: { restored: true } });
    t.ok(readFileSync(cluster.laptopResolvConf).equals(original), 'resolv.conf byte-identical after down');

    const killed = await start();
    t.equal(killed.first.ready, true);
    const gone = new Promise((resolve) => killed.child.once('exit', resolve));
    killed.child.kill('SIGKILL');
    await gone;
    t.notOk(readFileSync(cluster.laptopResolvConf).equals(original));
    await createSystemDns({ stateDir }).restore(killed.first.record as ResolverRecord);
    t.ok(
      readFileSync(cluster.laptopResolvConf).equals(original),
      'byte-identical after a killed daemon, from its record',
    );
    t.equal(sha('/etc/hosts'), hostsBefore, '/etc/hosts unchanged');
  },
);
