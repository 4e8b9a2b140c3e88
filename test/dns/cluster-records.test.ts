// ClusterRecords fed by informers against an API stand-in: the zone
// follows Services as they come and go, and a namespace-scoped user (403
// on cluster-wide watches) still resolves other namespaces' names through
// the cluster DNS, and so does a user with only the tunnel Role.
import t from 'tap';
import type { ClusterAddress } from '../../src/dns/answer.js';
import { createClusterForwarder } from '../../src/dns/cluster-forwarder.js';
import { ClusterRecords } from '../../src/dns/cluster-records.js';
import { DnsServer } from '../../src/dns/server.js';
import { buildZone, type ZoneSnapshot } from '../../src/dns/zone.js';
import { KubeClient } from '../../src/kube/client.js';
import { answers, ask, rcodeOf } from './client.js';
import { FakeApi } from './fake-api.js';
import { LoopbackDialer } from './fake-dns.js';
import { service, shopCluster, slice } from './fixtures.js';

async function world(t: { teardown(fn: () => unknown): void }) {
  const api = await new FakeApi({ admin: ['*'], staging: ['staging'] }).start();
  t.teardown(() => api.close());
  const { services, endpointSlices, pods } = shopCluster();
  for (const s of services) api.apply('services', s);
  for (const s of endpointSlices) api.apply('endpointslices', s);
  for (const p of pods) api.apply('pods', p);
  api.apply('services', service('staging', 'api', { clusterIP: '10.96.20.1', ports: [{ name: 'http', port: 80 }] }));
  return api;
}

/** ClusterRecords as `token` sees the API, falling back to `namespace`; closed on teardown. */
function recordsAs(
  t: { teardown(fn: () => unknown): void },
  api: FakeApi,
  token: string,
  namespace: string,
  onError?: (err: Error) => void,
): ClusterRecords {
  const client = KubeClient.load({ kubeconfig: api.kubeconfig(token, namespace) });
  t.teardown(() => client.close());
  const records = ClusterRecords.fromInformers(client, {
    clusterDomain: 'cluster.local',
    namespaces: 'all',
    fallbackNamespace: namespace,
    ...(onError ? { onError } : {}),
  });
  t.teardown(() => records.close());
  return records;
}

/** Resolves when the records publish a zone satisfying `ok`. */
function until(records: ClusterRecords, ok: (zone: ZoneSnapshot) => boolean): Promise<ZoneSnapshot> {
  if (ok(records.zone)) return Promise.resolve(records.zone);
  return new Promise((resolve) => {
    const off = records.onUpdate((zone) => {
      if (!ok(zone)) return;
      off();
      resolve(zone);
    });
  });
}

t.test('cluster-wide watches: names appear and vanish as Services are created and deleted', async (t) => {
  const api = await world(t);
  const records = recordsAs(t, api, 'admin', 'shop');
  const server = new DnsServer({ records });
  t.teardown(() => server.close());

  await until(records, (z) => z.serviceScope === 'all' && z.podScope === 'all');
  t.same(answers(await ask(server, 'web.shop.svc.cluster.local', 'A')), ['web.shop.svc.cluster.local A 10.96.10.1']);
  t.same(answers(await ask(server, 'pg-1.pg.shop.svc.cluster.local', 'A')), [
    'pg-1.pg.shop.svc.cluster.local A 10.244.2.11',
  ]);
  t.same(answers(await ask(server, '3.3.244.10.in-addr.arpa', 'PTR')), [
    '3.3.244.10.in-addr.arpa PTR 10-244-3-3.shop.pod.cluster.local',
  ]);
  t.equal(rcodeOf(await ask(server, 'late.shop.svc.cluster.local', 'A')), 'NXDOMAIN');

  const started = Date.now();
  api.apply('services', service('shop', 'late', { clusterIP: '10.96.10.77' }));
  await until(records, (z) => z.lookup('late.shop.svc.cluster.local') !== undefined);
  t.same(answers(await ask(server, 'late.shop.svc.cluster.local', 'A')), ['late.shop.svc.cluster.local A 10.96.10.77']);
  // Timing is the benchmark's business; the figure is printed for the record.
  t.comment(`a new Service resolved ${Date.now() - started} ms after it was created`);

  api.delete('services', 'shop', 'web');
  await until(records, (z) => z.lookup('web.shop.svc.cluster.local') === undefined);
  t.equal(
    rcodeOf(await ask(server, 'web.shop.svc.cluster.local', 'A')),
    'NXDOMAIN',
    'a deleted Service stops resolving',
  );

  // A headless endpoint turning ready, after a cut watch: the informer resumes.
  api.cutWatches();
  api.apply(
    'endpointslices',
    slice('shop', 'pg', [{ ip: '10.244.2.12', hostname: 'pg-2' }], [{ name: 'postgres', port: 5432 }]),
  );
  await until(records, (z) => z.lookup('pg-2.pg.shop.svc.cluster.local') !== undefined);
  t.same(answers(await ask(server, 'pg-2.pg.shop.svc.cluster.local', 'A')), [
    'pg-2.pg.shop.svc.cluster.local A 10.244.2.12',
  ]);
  t.same(records.forbidden(), {});
});

t.test('namespace-scoped user: own namespace answered locally, the rest through the cluster DNS', async (t) => {
  const api = await world(t);
  // The cluster DNS sees everything (it runs in the cluster).
  const full = buildZone({ clusterDomain: 'cluster.local', ...shopCluster() });
  const clusterDns = new DnsServer({ records: { zone: full } });
  t.teardown(() => clusterDns.close());
  const dialer = new LoopbackDialer({ '10.96.0.10:53': (await clusterDns.listenTcp('127.0.0.1')).port });

  const errors: string[] = [];
  const records = recordsAs(t, api, 'staging', 'staging', (err) =>
    errors.push((err as { code?: string }).code ?? err.message),
  );
  const server = new DnsServer({
    records,
    clusterForwarder: createClusterForwarder(dialer, '10.96.0.10'),
  });
  t.teardown(() => server.close());

  const zone = await until(
    records,
    (z) =>
      z.serviceScope !== 'all' && z.serviceScope.has('staging') && z.podScope !== 'all' && z.podScope.has('staging'),
  );
  t.same([...(zone.serviceScope as Set<string>)], ['staging']);
  t.same(records.forbidden(), { services: ['*'], endpointslices: ['*'], pods: ['*'] });
  t.ok(errors.includes('KVPN_ERR_API_FORBIDDEN'), 'the 403s were reported');

  t.same(answers(await ask(server, 'api.staging.svc.cluster.local', 'A')), [
    'api.staging.svc.cluster.local A 10.96.20.1',
  ]);
  t.equal(dialer.dials.length, 0, 'own namespace: answered locally');
  t.equal(rcodeOf(await ask(server, 'nope.staging.svc.cluster.local', 'A')), 'NXDOMAIN');
  t.equal(dialer.dials.length, 0, 'known missing: answered locally');

  const web = await ask(server, 'web.shop.svc.cluster.local', 'A');
  t.same(answers(web), ['web.shop.svc.cluster.local A 10.96.10.1'], 'another namespace: through the cluster DNS');
  t.equal(dialer.dials.length, 1);
  t.equal(server.stats().forwardedCluster, 1);
  t.ok(api.requests.includes('WATCH /api/v1/namespaces/staging/services'));
});

t.test(
  'tunnel-only user (no Service or EndpointSlice reads): every Service name goes to the cluster DNS',
  async (t) => {
    // Broke against a real cluster: with nothing watched, names were at risk of NXDOMAIN from an empty zone.
    const api = await new FakeApi({ tunnel: ['shop'] }, { tunnel: ['pods'] }).start();
    t.teardown(() => api.close());
    const { services, endpointSlices, pods } = shopCluster();
    for (const p of pods) api.apply('pods', p);
    const clusterDns = new DnsServer({
      records: { zone: buildZone({ clusterDomain: 'cluster.local', services, endpointSlices, pods }) },
    });
    t.teardown(() => clusterDns.close());
    const dialer = new LoopbackDialer({ '10.96.0.10:53': (await clusterDns.listenTcp('127.0.0.1')).port });

    const records = recordsAs(t, api, 'tunnel', 'shop');
    const seen: ClusterAddress[][] = [];
    let release: () => void = () => {};
    const server = new DnsServer({
      records,
      clusterForwarder: createClusterForwarder(dialer, '10.96.0.10'),
      onClusterAddresses: (found) => {
        seen.push(found);
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    });
    t.teardown(() => server.close());

    await records.settled();
    t.same(
      records.forbidden(),
      { services: ['*', 'shop'], endpointslices: ['*', 'shop'], pods: ['*'] },
      'refused cluster-wide and in its namespace; pods fell back to the namespace',
    );
    await until(records, (z) => z.podScope !== 'all' && z.podScope.has('shop'));
    t.same([...(records.serviceScope as Set<string>)], [], 'no namespace where Services are known');

    let replied = false;
    const asking = ask(server, 'web.shop.svc.cluster.local', 'A').then((m) => {
      replied = true;
      return m;
    });
    while (seen.length === 0) await new Promise((r) => setImmediate(r));
    t.same(seen[0], [{ name: 'web.shop.svc.cluster.local', address: '10.96.10.1', kind: 'service' }]);
    await new Promise((r) => setImmediate(r));
    t.notOk(replied, 'the reply waits until the session has routed the address');
    release();
    t.same(answers(await asking), ['web.shop.svc.cluster.local A 10.96.10.1'], 'answered by the cluster DNS');

    t.equal(rcodeOf(await ask(server, 'nope.shop.svc.cluster.local', 'A')), 'NXDOMAIN', "the cluster DNS's NXDOMAIN");
    t.equal(server.stats().nxdomainLocally, 0, 'never NXDOMAIN from the empty local zone');
    t.equal(server.stats().forwardedCluster, 2);
    t.same(answers(await ask(server, '10-244-1-5.shop.pod.cluster.local', 'A')), [
      '10-244-1-5.shop.pod.cluster.local A 10.244.1.5',
    ]);
    t.equal(server.stats().forwardedCluster, 2, 'pods of its namespace are watched: answered locally');
    t.equal(seen.length, 1, 'local answers are not handed over (their ranges come from the watches)');
  },
);
