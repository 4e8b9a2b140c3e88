// `kvpn expose` on the real Kubernetes world: a client inside the cluster
// (a pod, through the cluster DNS and kube-proxy) fetches a file the laptop
// serves on 127.0.0.1 (the seed's own example: `expose 8080 --name
// quickstart`, then `wget http://quickstart.default.svc.cluster.local:8080/file.txt`).
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import { startCluster } from '../cluster/index.js';
import { realWorld } from '../cluster/worlds.js';
import { fetchInCluster, fetchOnceProgrammed, KUBE_PROXY_SYNC_MS, laptopServer } from './helpers/in-cluster.js';
import { daemonPid, kvpnIn, snapshot } from './helpers/kvpn.js';

const RBAC_DOC = new URL('../../docs/rbac.md', import.meta.url);

const real = await realWorld();
t.test('kvpn expose: the cluster reaches the laptop', { skip: !real.run && real.why }, async (t) => {
  const cluster = await startCluster({ kind: 'real' });
  t.teardown(() => cluster.stop());
  const kvpn = kvpnIn(t, cluster);
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-expose-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const content = `served from the laptop ${Date.now()}\n`;
  writeFileSync(join(dir, 'file.txt'), content);
  await laptopServer(t, cluster, 8080, dir);

  const before = await snapshot(cluster, kvpn);
  const refused = await kvpn.run(['expose', '8080', '--name', 'quickstart']);
  t.equal(refused.code, EXIT.NO_SESSION, 'no session: refused');
  t.match(refused.stderr, /no kvpn session is running[\s\S]*kvpn up[\s\S]*KVPN_ERR_NO_SESSION/i);

  const up = await kvpn.run(['up', '--context', 'admin'], { timeoutMs: 180_000 });
  t.equal(up.code, EXIT.OK, up.stderr);
  const exposed = await kvpn.run(['expose', '8080', '--name', 'quickstart']);
  t.equal(exposed.code, EXIT.OK, exposed.stderr);
  t.match(exposed.stdout, /Exposed 127\.0\.0\.1:8080 as Service quickstart in namespace default/);

  const got = await fetchOnceProgrammed(cluster, 'http://quickstart.default.svc.cluster.local:8080/file.txt');
  t.equal(got.body, content, `a pod fetches the laptop's file (${got.err.trim()}; kube-proxy: ${got.waitedMs} ms)`);
  // Keep-alive and many connections: 20 fetches in a row.
  let ok = 0;
  for (let i = 0; i < 20; i++)
    if ((await fetchInCluster(cluster, 'http://quickstart:8080/file.txt')).body === content) ok++;
  t.equal(ok, 20, 'by short name too, every time');

  const status = JSON.parse((await kvpn.run(['status', '--json'])).stdout).sessions[0];
  t.match(status.exposures, [
    { name: 'quickstart', namespace: 'default', port: 8080, localPort: 8080, connections: { accepted: 21 } },
  ]);
  t.match((await kvpn.run(['status'])).stdout, /exposed\s+quickstart\.default\.svc:8080 → 127\.0\.0\.1:8080/);

  // A Service port other than the local one; nothing listening locally: a reset, a warning.
  t.equal((await kvpn.run(['expose', '8080:80', '--name', 'web-dev'])).code, EXIT.OK);
  t.equal((await fetchOnceProgrammed(cluster, 'http://web-dev/file.txt')).body, content, 'PORT maps to LOCALPORT');
  t.equal((await kvpn.run(['expose', '8099', '--name', 'nobody'])).code, EXIT.OK);
  const nobody = await fetchOnceProgrammed(cluster, 'http://nobody:8099/file.txt');
  t.not(nobody.code, 0, `nothing on 127.0.0.1:8099: the client fails (${nobody.err.trim()})`);
  const warned = JSON.parse((await kvpn.run(['status', '--json'])).stdout).sessions[0].warnings;
  t.match(warned, [/exposed nobody: nothing answers on 127\.0\.0\.1:8099/]);

  // UDP: a flow per cluster source, to a UDP server on the laptop.
  const udp = cluster.spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:dgram').createSocket('udp4');
       s.on('message', (m, r) => s.send('laptop got ' + m, r.port, r.address));
       s.bind(9053, '127.0.0.1', () => console.log('listening'));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => udp.kill());
  await once(udp.stdout as NodeJS.ReadableStream, 'data');
  const udpExposed = await kvpn.run(['expose', '9053', '--name', 'laptop-udp', '--protocol', 'udp']);
  t.equal(udpExposed.code, EXIT.OK, udpExposed.stderr);
  t.match(udpExposed.stdout, /Exposed 127\.0\.0\.1:9053\/udp as Service laptop-udp/);
  const echoPod = (await cluster.pods({ app: 'echo' }, 'default'))[0]?.metadata.name as string;
  const udpScript = `const s = require('node:dgram').createSocket('udp4');
    let n = 0; const ask = () => s.send('ping ' + ++n, 9053, 'laptop-udp.default.svc.cluster.local');
    s.on('message', (m) => { console.log(String(m)); process.exit(0); });
    ask(); const again = setInterval(ask, 500); setTimeout(() => process.exit(1), ${KUBE_PROXY_SYNC_MS});`;
  const udpReply = await cluster.kubectl(['exec', '-n', 'default', echoPod, '--', 'node', '-e', udpScript], {
    context: 'admin',
  });
  t.match(
    udpReply.stdout,
    /^laptop got ping \d+\n$/,
    `a pod's datagram reaches the laptop and back (${udpReply.stderr})`,
  );

  // The relay pod deleted: kvpn recreates it, the Service selects the new one by label, the
  // laptop parks again: exposed once more without the user doing anything.
  const oldRelay = JSON.parse((await kvpn.run(['status', '--json'])).stdout).sessions[0].relay.pod as string;
  await cluster.kubectl(['delete', 'pod', oldRelay, '--wait=false'], { context: 'admin' });
  let again = { code: 1, body: '', err: '', waitedMs: 0 };
  const deletedAt = Date.now();
  while (again.body !== content && Date.now() - deletedAt < 60_000) {
    again = await fetchOnceProgrammed(cluster, 'http://quickstart:8080/file.txt');
  }
  t.equal(again.body, content, `served again after the relay was recreated (${Date.now() - deletedAt} ms)`);
  const recreated = JSON.parse((await kvpn.run(['status', '--json'])).stdout).sessions[0];
  t.not(recreated.relay.pod, oldRelay, 'by a new relay pod');

  // Refusals: one sentence, the fix, a code.
  const echoBefore = await cluster.kubectl(['get', 'svc', 'echo', '-o', 'json'], { context: 'admin' });
  const cases: [string[], number, RegExp][] = [
    [
      ['expose', '8080', '--name', 'quickstart'],
      EXIT.CONFIG,
      /already exposes "quickstart"[\s\S]*KVPN_ERR_EXPOSE_EXISTS/,
    ],
    [
      ['expose', '8081', '--name', 'echo'],
      EXIT.CONFIG,
      /a Service named "echo" already exists[\s\S]*KVPN_ERR_EXPOSE_EXISTS/i,
    ],
    [['expose', '8080', '--name', 'Bad_Name'], EXIT.CONFIG, /not a valid Service name[\s\S]*KVPN_ERR_EXPOSE_NAME/],
    [['expose', '8080', '--protocol', 'sctp'], EXIT.USAGE, /Invalid values[\s\S]*protocol/],
    [['expose', '99999'], EXIT.USAGE, /"99999" is not LOCALPORT\[:PORT\]/],
    [['leave', 'nope'], EXIT.CONFIG, /exposes nothing named "nope"[\s\S]*KVPN_ERR_EXPOSE_UNKNOWN/],
  ];
  for (const [args, code, message] of cases) {
    const r = await kvpn.run(args);
    t.equal(r.code, code, args.join(' '));
    t.match(r.stderr, message, args.join(' '));
  }
  const echoAfter = await cluster.kubectl(['get', 'svc', 'echo', '-o', 'json'], { context: 'admin' });
  t.equal(echoAfter.stdout, echoBefore.stdout, "someone else's Service is left exactly as it was");

  const left = await kvpn.run(['leave', 'quickstart']);
  t.equal(left.code, EXIT.OK, left.stderr);
  t.match(left.stdout, /Ended quickstart: Service default\/quickstart deleted after \d+ connection/);
  const gone = await cluster.kubectl(['get', 'svc', 'quickstart'], { context: 'admin' });
  t.match(gone.stderr, /NotFound/, 'the Service is gone');

  // The daemon killed: the next `down` removes what it exposed.
  const pid = await daemonPid(kvpn);
  process.kill(pid, 'SIGKILL');
  const down = await kvpn.run(['down']);
  t.equal(down.code, EXIT.OK, down.stderr);
  t.same(await snapshot(cluster, kvpn, [pid]), before, 'nothing left: Services, relay, laptop');

  // docs/rbac.md's kvpn-expose Role, read from the page, is what staging needs on top of the tunnel's.
  const upStaging = await kvpn.run(['up', '--context', 'staging'], { timeoutMs: 180_000 });
  t.equal(upStaging.code, EXIT.OK, upStaging.stderr);
  const forbidden = await kvpn.run(['expose', '8080', '--name', 'quickstart']);
  t.equal(forbidden.code, EXIT.CONFIG);
  t.match(
    forbidden.stderr,
    /services is forbidden[\s\S]*cannot create resource "services"[\s\S]*KVPN_ERR_API_FORBIDDEN/,
  );
  const role = [...readFileSync(RBAC_DOC, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1] as string)
    .find((y) => /name: kvpn-expose\n/.test(y));
  t.ok(role, 'docs/rbac.md documents the kvpn-expose Role');
  const binding = `${(role ?? '').replaceAll('namespace: my-namespace', 'namespace: default')}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: kvpn-expose, namespace: default}
subjects: [{kind: ServiceAccount, name: staging, namespace: default}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: kvpn-expose}
`;
  const granted = await cluster.kubectl(['apply', '-f', '-'], { context: 'admin', input: binding });
  t.equal(granted.code, 0, granted.stderr);
  const allowed = await kvpn.run(['expose', '8080', '--name', 'quickstart']);
  t.equal(allowed.code, EXIT.OK, allowed.stderr);
  t.equal(
    (await fetchOnceProgrammed(cluster, 'http://quickstart:8080/file.txt')).body,
    content,
    'with the Role, exposed',
  );
  const downStaging = await kvpn.run(['down']);
  t.equal(downStaging.code, EXIT.OK, downStaging.stderr);
  const objects = (await snapshot(cluster, kvpn)).kvpnObjects;
  t.same(objects, before.kvpnObjects, 'down removes the exposed Service too');
});
