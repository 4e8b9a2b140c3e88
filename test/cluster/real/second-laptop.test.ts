// Two laptops on one real world (cluster.addLaptop()): the added one has the
// first one's shape (reaches the API server at the node's address and
// nothing else; a system resolver that knows the upstream name, in a
// resolv.conf kvpn takes over and restores), two `kvpn up` sessions run at
// once, one in each, and each reaches a Service by name. stop() leaves no
// namespace or /etc/netns directory of the world behind.
import { readdir, readFile } from 'node:fs/promises';
import t from 'tap';
import { EXIT } from '../../../src/cli/exit-codes.js';
import { kvpnIn, snapshot } from '../../e2e/helpers/kvpn.js';
import { Cluster, type Laptop, startCluster } from '../index.js';
import { worldNetnsNames } from '../network/sweep.js';
import { realWorld } from '../worlds.js';

const ECHO_URL = 'http://echo.default.svc.cluster.local/';

/** An HTTP GET from inside `laptop`, by name: its resolver, its routes. */
function curl(laptop: Laptop, url: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return laptop.exec('curl', ['-sS', '-m', '5', url], { timeoutMs: 10_000 });
}

const available = await realWorld();
if (!available.run) {
  t.plan(0, available.why);
} else {
  const cluster = await startCluster({ kind: 'real' });
  t.teardown(() => cluster.stop());
  const worldId = cluster.id;

  t.test('the stand-in has no second laptop', async (t) => {
    // A Cluster object over this world's state, as the stand-in's: it refuses before making anything.
    const standIn = new Cluster({ ...cluster.state, kind: 'stand-in' });
    await t.rejects(standIn.addLaptop(), /real world only/);
  });

  t.test('an added laptop has the first one’s shape', async (t) => {
    const second = await cluster.addLaptop();
    t.equal(second.name, `${worldId}-laptop2`, 'named so the world’s sweep finds it');
    t.equal(second.resolvConf, `/etc/netns/${second.name}/resolv.conf`);
    t.equal(
      await readFile(second.resolvConf, 'utf8'),
      await readFile(cluster.laptopResolvConf, 'utf8'),
      'the same system resolver configuration as the first laptop',
    );
    const routes = (await second.exec('ip', ['-4', 'route', 'show'])).stdout.trim().split('\n');
    t.same(
      routes.map((r) => r.trim()).sort(),
      ['172.18.0.2 via 172.18.1.2 dev eth0', '172.18.1.0/24 dev eth0 proto kernel scope link src 172.18.1.1'],
      'routed to the API server’s address and nothing else',
    );
    const api = await second.exec('curl', [
      '-sk',
      '-m',
      '5',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `${cluster.apiServerUrl}/version`,
    ]);
    t.match(api.stdout, /^[0-9]{3}$/, `the API server answers at ${cluster.apiServerUrl} (${api.stderr})`);
    const upstream = await second.exec('dig', ['+short', '+time=1', '+tries=2', cluster.upstreamTestName]);
    t.equal(upstream.stdout.trim(), cluster.upstreamTestIp, 'its resolver knows the upstream-only name');
    const echo = await curl(second, ECHO_URL);
    t.not(echo.code, 0, 'no Service reached without kvpn');
    const third = await cluster.addLaptop();
    t.equal(third.name, `${worldId}-laptop3`, 'each laptop a number of its own');
    await third.remove();
    const names = await readdir('/run/netns');
    t.notOk(names.includes(third.name), 'remove() deletes its namespace');
  });

  t.test('kvpn up on two laptops at once: each reaches a Service by name', async (t) => {
    const second = await cluster.addLaptop();
    const one = kvpnIn(t, cluster);
    const two = kvpnIn(t, cluster, second);
    t.equal(two.laptop, second);
    const [before1, before2] = await Promise.all([snapshot(cluster, one), snapshot(cluster, two)]);

    // Two developers, two contexts with the same rights: a session's id (and its relay's
    // ConfigMap and Secret names) comes from the context name alone, so the same name on
    // both laptops would make them one session to the cluster.
    const [up1, up2] = await Promise.all([
      one.run(['up', '--context', 'staging'], { timeoutMs: 180_000 }),
      two.run(['up', '--context', 'staging-exec'], { timeoutMs: 180_000 }),
    ]);
    t.equal(up1.code, EXIT.OK, `first laptop up: ${up1.stderr}`);
    t.equal(up2.code, EXIT.OK, `second laptop up: ${up2.stderr}`);
    const [status1, status2] = await Promise.all([one.run(['status', '--json']), two.run(['status', '--json'])]);
    const relay1 = JSON.parse(status1.stdout).sessions[0]?.relay?.pod;
    const relay2 = JSON.parse(status2.stdout).sessions[0]?.relay?.pod;
    t.ok(relay1 && relay2 && relay1 !== relay2, `a relay each (${relay1}, ${relay2})`);

    for (const [which, laptop] of [
      ['first', cluster.laptop],
      ['second', second],
    ] as const) {
      const r = await curl(laptop, ECHO_URL);
      t.match(r.stdout, /^echo-/, `the ${which} laptop reaches echo by name (${r.stderr.trim()})`);
    }
    // At the same time, several times each: the sessions do not step on each other.
    const both = await Promise.all(
      Array.from({ length: 6 }, (_, i) => curl(i % 2 ? second : cluster.laptop, ECHO_URL)),
    );
    t.equal(both.filter((r) => r.stdout.startsWith('echo-')).length, 6, 'interleaved requests from both succeed');

    const [down1, down2] = await Promise.all([one.run(['down']), two.run(['down'])]);
    t.equal(down1.code, EXIT.OK, down1.stderr);
    t.equal(down2.code, EXIT.OK, down2.stderr);
    const [after1, after2] = await Promise.all([snapshot(cluster, one), snapshot(cluster, two)]);
    t.same(after1, before1, 'the first laptop as it was (links, routes, resolv.conf, files)');
    t.same(after2, before2, 'the second laptop as it was (links, routes, resolv.conf, files)');
  });

  t.test('stop() leaves no namespace or /etc/netns directory of the world', async (t) => {
    const added = await cluster.addLaptop();
    t.ok((await worldNetnsNames(worldId)).includes(added.name), 'the crash sweep (sweepWorld) would find it by name');
    await cluster.stop();
    const ours = (names: string[]): string[] => names.filter((n) => n.startsWith(`${worldId}-`));
    t.same(ours(await readdir('/run/netns').catch(() => [])), [], '/run/netns');
    t.same(ours(await readdir('/etc/netns').catch(() => [])), [], '/etc/netns');
  });
}
