// CIDR discovery against the test world: each source in turn, as RBAC and
// the API allow. The namespace-scoped staging-reader user (docs/rbac.md's
// optional reads) may not read ServiceCIDRs or nodes, and still gets
// working ranges; the staging user (the tunnel Role alone) is not stopped:
// it gets no Service range from the API (the session then covers the
// cluster's own Services, found through the tunnel).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { KubeClient } from '../../src/kube/client.js';
import {
  discoverPodCidrs,
  discoverServiceCidrs,
  rangesFromInvalidClusterIpMessage,
  uncoveredRange,
  watchPodRanges,
} from '../../src/session/cidr-discovery.js';
import { startCluster } from '../cluster/index.js';
import { laptopApi } from './helpers/laptop-api.js';

t.test('the invalid-ClusterIP message yields every range it quotes', async (t) => {
  t.same(
    rangesFromInvalidClusterIpMessage(
      'Service "kvpn-cidr-probe" is invalid: spec.clusterIPs: Invalid value: []string{"192.0.2.1"}: failed to allocate IP 192.0.2.1: the provided IP (192.0.2.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12',
    ),
    ['10.96.0.0/12'],
  );
  t.same(rangesFromInvalidClusterIpMessage('The range of valid IPs is 10.96.0.0/12, fd00:10:96::/112'), [
    '10.96.0.0/12',
    'fd00:10:96::/112',
  ]);
  t.same(rangesFromInvalidClusterIpMessage('spec.clusterIPs: Invalid value: "x": not an IP'), []);
});

t.test('a pod outside the known ranges yields its /16; inside, nothing', async (t) => {
  t.equal(uncoveredRange('10.245.3.4', ['10.244.0.0/16']), '10.245.0.0/16');
  t.equal(uncoveredRange('10.244.3.4', ['10.244.0.0/16']), undefined);
  t.equal(uncoveredRange('fd00:1::5', []), 'fd00:1::/64');
  t.equal(uncoveredRange('garbage', []), undefined);
});

t.test('against the test world', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-cidrs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const api = await laptopApi(t, cluster, dir);
  const staging = KubeClient.load({ kubeconfig: api.kubeconfig, context: 'staging' });
  const reader = KubeClient.load({ kubeconfig: api.kubeconfig, context: 'staging-reader' });
  const admin = KubeClient.load({ kubeconfig: api.kubeconfig, context: 'admin', namespace: 'default' });
  t.teardown(() => {
    staging.close();
    reader.close();
    admin.close();
  });

  await t.test('admin: the ServiceCIDR API and the nodes podCIDRs', async (t) => {
    const service = await discoverServiceCidrs(admin, 'default');
    t.same(service, { cidrs: [cluster.serviceCidr], source: 'servicecidr-api', notes: [], forbidden: [] });
    const pod = await discoverPodCidrs(admin, 'default');
    const nodes = await cluster.nodes();
    t.equal(pod.source, 'node-podcidrs');
    t.same(pod.cidrs, ['10.244.0.0/23'], `${nodes.map((n) => n.podCidr).join(' + ')}, merged`);
  });

  await t.test('staging-reader (namespace-scoped): the invalid-ClusterIP probe, a cover of pod IPs', async (t) => {
    const before = (await cluster.objects('services', 'default')).length;
    const service = await discoverServiceCidrs(reader, 'default');
    t.equal(service.source, 'invalid-clusterip');
    t.same(service.cidrs, [cluster.serviceCidr]);
    t.match(service.notes, [/^ServiceCIDR API: 403 Forbidden/]);
    t.same(service.forbidden, [], 'nothing a namespace Role could grant was refused');
    t.equal((await cluster.objects('services', 'default')).length, before, 'the probe was a dry run: nothing created');
    const pod = await discoverPodCidrs(reader, 'default');
    t.same(pod, { cidrs: ['10.244.0.0/16'], source: 'pod-ips', notes: [pod.notes[0]], forbidden: [] });
    t.match(pod.notes[0], /^nodes: 403 Forbidden/);
  });

  await t.test('staging (the tunnel Role alone): no Service range, no failure; pods still listed', async (t) => {
    // Broke against a real cluster: the 403 on listing Services stopped `kvpn up`.
    const service = await discoverServiceCidrs(staging, 'default');
    t.same(service.cidrs, []);
    t.equal(service.source, 'none');
    t.match(service.notes, [/^ServiceCIDR API: 403/, /^invalid-ClusterIP probe: 403/, /^services in default: 403/]);
    t.same(service.forbidden, ['create services', 'list services'], 'the rights a Role could grant, for `degraded`');
    const pod = await discoverPodCidrs(staging, 'default');
    t.same(pod, { cidrs: ['10.244.0.0/16'], source: 'pod-ips', notes: [pod.notes[0]], forbidden: [] });
  });

  await t.test('ServiceCIDR API off: admin falls back to the probe too', async (t) => {
    await cluster.setServiceCidrApi(false);
    t.teardown(() => cluster.setServiceCidrApi(true));
    const service = await discoverServiceCidrs(admin, 'default');
    t.equal(service.source, 'invalid-clusterip');
    t.same(service.cidrs, [cluster.serviceCidr]);
    t.match(service.notes, [/^ServiceCIDR API: 404/]);
  });

  await t.test('the pod watch reports pods outside the known ranges', async (t) => {
    const seen: string[] = [];
    const watch = await watchPodRanges(staging, 'default', {
      known: () => ['10.244.1.0/24'],
      onNewRange: (cidr, pod) => seen.push(`${cidr} ${pod}`),
    });
    t.teardown(() => watch.close());
    const onNode0 = (await cluster.pods({}, 'default')).filter((p) => p.status?.podIP?.startsWith('10.244.0.')).length;
    const deadline = Date.now() + 10_000;
    while (seen.length < onNode0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.ok(onNode0 > 0, 'some pods run on node 0');
    t.equal(seen.length, onNode0, 'each pod of node 0 is reported; node 1 pods are covered');
    t.ok(seen.every((s) => s.startsWith('10.244.0.0/16 ')));
  });
});
