// The rest of what `up` offers, against the test world: --also-proxy with a
// CIDR and a host name resolved in the cluster, --dns off, a second session
// beside the first, --foreground with SIGTERM, `kvpn logs`, and the kubectl
// plugin form (`kubectl vpn …`). Where IP addresses must work without DNS
// (or exact ranges must clash), the user is staging-reader, whose optional
// reads give the exact Service range; with the tunnel Role alone a Service
// outside the guessed range is routed only once its name resolves.
import { once } from 'node:events';
import { chmodSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { SessionStatus } from '../../src/session/types.js';
import { daemonPid, kvpnCommand, kvpnIn, laptop, snapshot } from './helpers/kvpn.js';
import { onEachWorld } from './helpers/worlds.js';

await onEachWorld(t, {}, async (t, cluster) => {
  t.test('--also-proxy (CIDR and host name), --dns off, kvpn logs', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    const before = await snapshot(cluster, kvpn);
    const up = await kvpn.run([
      'up',
      '--context',
      'staging-reader',
      '--dns',
      'off',
      '--also-proxy',
      '192.0.2.0/28',
      '--also-proxy',
      'postgres.default.svc.cluster.local',
    ]);
    t.equal(up.code, EXIT.OK, up.stderr);
    t.match(up.stdout, 'DNS         off (use IP addresses, or run with --dns auto)');
    const s = JSON.parse((await kvpn.run(['status', '--json'])).stdout).sessions[0];
    const postgresIp = await cluster.serviceIp('postgres');
    t.match(s.routes, [
      { cidr: '192.0.2.0/28', source: 'also-proxy' },
      { cidr: '10.96.0.0/12', source: 'service' },
      { cidr: '10.244.0.0/16', source: 'pod' },
      { cidr: `${postgresIp}/32`, source: 'also-proxy' },
    ]);
    t.same(s.dns, { mode: 'off', server: null, clusterDomain: null, searchDomains: [] });
    t.ok(before.resolvConf === (await snapshot(cluster, kvpn)).resolvConf, 'resolv.conf untouched');
    const byIp = await laptop(cluster, 'curl', ['-sS', '-m', '10', `http://${await cluster.serviceIp('echo')}/`]);
    t.match(byIp.stdout, /^echo-/, 'IP addresses work without DNS');
    const logs = await kvpn.run(['logs', '--context', 'staging-reader']);
    t.equal(logs.code, EXIT.OK);
    t.match(logs.stdout, /info session up startupMs=\d+/);
    const path = await kvpn.run(['logs', '--path']);
    t.match(path.stdout.trim(), /\/logs\/staging-reader-[0-9a-f]{8}\.log$/);
    t.equal((await kvpn.run(['down'])).code, EXIT.OK);
    t.same(await snapshot(cluster, kvpn), before);
  });

  t.test('a second session beside the first; down --all stops both', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    const before = await snapshot(cluster, kvpn);
    t.equal((await kvpn.run(['up', '--context', 'staging-reader'])).code, EXIT.OK);
    const first = await daemonPid(kvpn);
    const clash = await kvpn.run(['up', '--context', 'admin', '--namespace', 'shop']);
    t.equal(clash.code, EXIT.SYSTEM, 'the same ranges twice: a conflict');
    t.match(clash.stderr, /overlaps the existing route 10\.96\.0\.0\/12 dev kvpn0/, "naming the first session's route");
    const beside = await kvpn.run([
      'up',
      '--context',
      'admin',
      '--namespace',
      'shop',
      '--allow-conflicting',
      '--dns',
      'off',
    ]);
    t.equal(beside.code, EXIT.OK, beside.stderr);
    t.match(beside.stderr, 'TUN and routes up: kvpn1 (198.18.1.1)', 'its own device and TUN network');
    const both = JSON.parse((await kvpn.run(['status', '--json'])).stdout).sessions as SessionStatus[];
    t.same(both.map((s) => s.context).sort(), ['admin', 'staging-reader']);
    const admin = both.find((s) => s.context === 'admin');
    t.match(admin?.warnings, [/10\.96\.0\.0\/12 is already routed via kvpn0; not routed again/]);
    // admin reads the nodes' podCIDRs: the stand-in's two /24s join into a /23, the real world has one node.
    const podRange = (await cluster.nodes()).length === 1 ? '10.244.0.0/24' : '10.244.0.0/23';
    t.same(
      admin?.routes,
      [{ cidr: podRange, source: 'pod', family: 4 }],
      'only the more specific range goes to the second session',
    );
    const web = await laptop(cluster, 'curl', ['-sS', '-m', '10', `http://${await cluster.serviceIp('echo')}/`]);
    t.match(web.stdout, /^echo-/, 'the first session still carries the service range');
    const ambiguous = await kvpn.run(['down']);
    t.equal(ambiguous.code, EXIT.USAGE, 'down needs to know which');
    t.match(ambiguous.stderr, '2 sessions are running (admin, staging-reader)');
    const down = await kvpn.run(['down', '--all']);
    t.equal(down.code, EXIT.OK, down.stderr);
    t.match(down.stdout, 'Stopping session admin');
    t.match(down.stdout, 'Stopping session staging-reader');
    t.same(await snapshot(cluster, kvpn, [first]), before);
  });

  t.test('--foreground: stays attached, SIGTERM disconnects and cleans up', async (t) => {
    const kvpn = kvpnIn(t, cluster);
    const before = await snapshot(cluster, kvpn);
    const self = kvpnCommand();
    const child = cluster.spawn(self.command, [...self.args, 'up', '--context', 'staging', '--foreground'], {
      env: kvpn.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (out += d));
    const deadline = Date.now() + 30_000;
    while (!out.includes('stop with   Ctrl-C') && Date.now() < deadline && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 50));
    t.match(out, 'stop with   Ctrl-C', `up in the foreground: ${out}`);
    const curl = await laptop(cluster, 'curl', ['-sS', '-m', '10', 'http://echo.default/']);
    t.match(curl.stdout, /^echo-/);
    const status = await kvpn.run(['status']);
    t.match(status.stdout, 'Session staging (running', 'status works from another terminal');
    // `ip netns exec` execs the command: the child pid is kvpn itself.
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    t.equal(code, EXIT.OK);
    t.match(out, 'Disconnected from staging:');
    t.match(out, '✓ removed: link kvpn0');
    t.same(await snapshot(cluster, kvpn), before);
  });

  const built = kvpnCommand().args.length === 1;
  t.test(
    'as a kubectl plugin: `kubectl vpn up`',
    { skip: built ? false : 'kubectl runs kubectl-vpn as an executable: needs the built CLI (npm run build)' },
    async (t) => {
      const kvpn = kvpnIn(t, cluster);
      const self = kvpnCommand();
      const bin = join(kvpn.dir, 'bin');
      mkdirSync(bin);
      // What npm does when it installs the bin: a symlink to an executable main.js.
      chmodSync(self.args[0] as string, 0o755);
      symlinkSync(self.args[0] as string, join(bin, 'kubectl-vpn'));
      const env = { ...kvpn.env, PATH: `${bin}:${process.env.PATH}` };
      const before = await snapshot(cluster, kvpn);
      const help = await cluster.exec('kubectl', ['vpn', '--help'], { env });
      t.match(help.stdout, 'kubectl vpn <command> [options]');
      const up = await cluster.exec('kubectl', ['vpn', 'up', '--context', 'staging'], { env, timeoutMs: 60_000 });
      t.equal(up.code, EXIT.OK, up.stderr);
      t.match(up.stdout, 'stop with   kubectl vpn down --context staging');
      const down = await cluster.exec('kubectl', ['vpn', 'down'], { env, timeoutMs: 60_000 });
      t.equal(down.code, EXIT.OK, down.stderr);
      t.same(await snapshot(cluster, kvpn), before);
    },
  );
});
