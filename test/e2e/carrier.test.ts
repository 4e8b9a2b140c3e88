// `kvpn up --carrier mux` as a user runs it, on each test world: the mux
// carrier (tunnel protocol 2) through the real port-forward carries what the
// HTTP/2 one does — HTTP by name, PostgreSQL, UDP, DNS, a refused port as a
// refusal, a 32 MiB body byte for byte — and `down` leaves nothing.
import t from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { SessionStatus } from '../../src/session/types.js';
import { daemonPid, kvpnIn, laptop, snapshot, udpRoundTrip } from './helpers/kvpn.js';
import { onEachWorld } from './helpers/worlds.js';

await onEachWorld(t, {}, async (t, cluster) => {
  const kvpn = kvpnIn(t, cluster);
  const before = await snapshot(cluster, kvpn);
  const up = await kvpn.run(['up', '--context', 'staging', '--carrier', 'mux']);
  t.equal(up.code, EXIT.OK, up.stderr);
  const pid = await daemonPid(kvpn);
  const status = JSON.parse((await kvpn.run(['status', '--json'])).stdout).sessions[0] as SessionStatus;
  t.equal(status.relay.carrier, 'mux', 'the session runs on the mux carrier');
  t.match((await kvpn.run(['status'])).stdout, /relay pod\s+\S+ \(mux carrier\)/);

  const name = `echo.default.svc.${cluster.clusterDomain}`;
  const curl = await laptop(cluster, 'curl', ['-sS', '-m', '10', `http://${name}/`]);
  t.match(curl.stdout, /^echo-/, `curl by name: ${curl.stderr}`);
  const size = 32 * 1024 * 1024;
  const bulk = await laptop(
    cluster,
    'curl',
    ['-sS', '-m', '60', '-o', '/dev/null', '-w', '%{size_download}', `http://${name}/bytes/${size}`],
    70_000,
  );
  t.equal(Number(bulk.stdout), size, `a ${size}-byte body arrives whole: ${bulk.stderr}`);
  const psql = await laptop(
    cluster,
    'psql',
    ['-h', 'postgres.default', '-U', 'postgres', '-tAc', 'select 6*7'],
    20_000,
  );
  t.equal(psql.stdout.trim(), '42', `psql: ${psql.stderr}`);
  // By name: with the minimal Role a Service outside the guessed range is routed once resolved.
  const udpName = `udp-echo.default.svc.${cluster.clusterDomain}`;
  t.equal(await udpRoundTrip(cluster, udpName, 9000, 'over the mux'), 'over the mux', 'UDP both ways');
  const dig = await laptop(cluster, 'dig', ['+short', name]);
  t.equal(dig.stdout.trim(), await cluster.serviceIp('echo'), 'dig');
  const refused = await laptop(cluster, 'curl', ['-sS', '-m', '10', `http://${name}:81/`]);
  t.match(refused.stderr, /refused|Couldn't connect/i, `a port nothing serves is refused: ${refused.stderr}`);

  const down = await kvpn.run(['down']);
  t.equal(down.code, EXIT.OK, down.stderr);
  t.same(await snapshot(cluster, kvpn, [pid]), before, 'nothing left');
});
