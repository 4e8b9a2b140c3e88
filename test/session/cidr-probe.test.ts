// The invalid-ClusterIP probe per IP family, against an API that answers as
// a real kube-apiserver does: each family's dry-run create quotes that
// family's range, a family the cluster lacks is refused without a range
// (and is simply absent), and no range at all falls through to the next
// source. The ServiceCIDR API is refused throughout, so the probe runs.
import t from 'tap';
import type { KubeClient } from '../../src/kube/client.js';
import { KubeApiError } from '../../src/kube/errors.js';
import { discoverServiceCidrs, PROBE_CLUSTER_IPS } from '../../src/session/cidr-discovery.js';

type Family = 'IPv4' | 'IPv6';
interface ProbeBody {
  spec: { clusterIP: string; ipFamilies: Family[]; ipFamilyPolicy: string };
}

const invalid = (message: string) =>
  new KubeApiError('POST', '/api/v1/namespaces/default/services', 422, { reason: 'Invalid', message });

const outOfRange = (ip: string, range: string) =>
  invalid(
    `Service "kvpn-cidr-probe" is invalid: spec.clusterIPs: Invalid value: ["${ip}"]: failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${range}`,
  );

const notConfigured = (family: Family) =>
  invalid(
    `Service "kvpn-cidr-probe" is invalid: spec.ipFamilies[0]: Invalid value: "${family}": not configured on this cluster`,
  );

/** A cluster with these Service ranges per family; `services` answers the list (the last source). */
function fakeApi(ranges: Partial<Record<Family, string>>, options: { probe?: (body: ProbeBody) => unknown } = {}) {
  const probes: ProbeBody['spec'][] = [];
  const dryRuns: (string | undefined)[] = [];
  const client = {
    async request(method: string, path: string, opts: { body?: ProbeBody; query?: Record<string, string> } = {}) {
      if (path.includes('servicecidrs')) throw new KubeApiError(method, path, 403, { message: 'forbidden' });
      if (method === 'POST') {
        const body = opts.body as ProbeBody;
        probes.push(body.spec);
        dryRuns.push(opts.query?.dryRun);
        if (options.probe) throw options.probe(body);
        const family = body.spec.ipFamilies[0] as Family;
        const range = ranges[family];
        throw range ? outOfRange(body.spec.clusterIP, range) : notConfigured(family);
      }
      return { items: [] };
    },
  } as unknown as KubeClient;
  return { client, probes, dryRuns };
}

t.test('dual-stack: both families probed, both ranges found', async (t) => {
  const { client, probes, dryRuns } = fakeApi({ IPv4: '10.96.0.0/16', IPv6: 'fd00:10:96::/112' });
  const found = await discoverServiceCidrs(client, 'default');
  t.same(found.cidrs, ['10.96.0.0/16', 'fd00:10:96::/112']);
  t.equal(found.source, 'invalid-clusterip');
  t.same(probes, [
    { clusterIP: PROBE_CLUSTER_IPS.IPv4, ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', ports: [{ port: 443 }] },
    { clusterIP: '2001:db8::1', ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack', ports: [{ port: 443 }] },
  ]);
  t.same(dryRuns, ['All', 'All'], 'every probe is a dry run: nothing is created');
});

t.test('IPv6-only: the IPv4 family is refused without a range and is simply absent', async (t) => {
  const { client } = fakeApi({ IPv6: 'fd00:10:96::/112' });
  const found = await discoverServiceCidrs(client, 'default');
  t.same(found.cidrs, ['fd00:10:96::/112']);
  t.equal(found.source, 'invalid-clusterip');
});

t.test('IPv4-only: as before, the IPv6 family is absent', async (t) => {
  const { client } = fakeApi({ IPv4: '10.96.0.0/12' });
  const found = await discoverServiceCidrs(client, 'default');
  t.same(found.cidrs, ['10.96.0.0/12']);
  t.equal(found.source, 'invalid-clusterip');
});

t.test('no family quotes a range: the next source, with the first family’s refusal noted', async (t) => {
  const { client } = fakeApi({});
  const found = await discoverServiceCidrs(client, 'default');
  t.equal(found.source, 'none');
  t.match(found.notes, [/^ServiceCIDR API: 403/, /^invalid-ClusterIP probe: 422 Invalid .*"IPv4": not configured/]);
});

t.test('a refused create (403) is not retried per family and is reported as forbidden', async (t) => {
  const { client, probes } = fakeApi(
    {},
    {
      probe: () =>
        new KubeApiError('POST', 'services', 403, {
          message: 'services is forbidden: User "u" cannot create resource "services"',
        }),
    },
  );
  const found = await discoverServiceCidrs(client, 'default');
  t.equal(probes.length, 1, 'one probe: RBAC answers every family alike');
  t.same(found.forbidden, ['create services']);
});
