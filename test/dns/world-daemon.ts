// The DNS part of a kvpn daemon, run inside test/cluster's laptop network
// namespace: ClusterRecords from informers (as the given context), a DNS
// server on <address>:53, the laptop's resolv.conf pointed at it through
// SystemDns, and — standing in for the tunnel — a Dialer that reaches the
// cluster DNS pod through a Kubernetes port-forward. JSON lines on stdout;
// stdin "stats" / "down".
import { createInterface } from 'node:readline';
import { createClusterForwarder } from '../../src/dns/cluster-forwarder.js';
import { ClusterRecords } from '../../src/dns/cluster-records.js';
import { namespaceSearchDomains } from '../../src/dns/resolv-conf.js';
import { DnsServer } from '../../src/dns/server.js';
import { createSystemDns } from '../../src/dns/system-dns.js';
import { KubeClient } from '../../src/kube/client.js';
import { openPortForward } from '../../src/kube/port-forward.js';
import type { Dialer } from '../../src/tun/stack/dialer.js';

const config = JSON.parse(process.argv[2] ?? '{}') as {
  kubeconfig: string;
  context: string;
  tunnelContext: string;
  namespace: string;
  resolvConfPath: string;
  stateDir: string;
  address: string;
  clusterDns: string;
};
const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

const client = KubeClient.load({ kubeconfig: config.kubeconfig, context: config.context });
const tunnelClient = KubeClient.load({ kubeconfig: config.kubeconfig, context: config.tunnelContext });
let tunnelDials = 0;
const tunnel: Dialer = {
  async dialTcp(request) {
    if (request.destination.address !== config.clusterDns || request.destination.port !== 53)
      throw new Error('not the cluster DNS');
    tunnelDials++;
    const pods = await tunnelClient.request<{ items: { metadata: { name: string }; status?: { phase?: string } }[] }>(
      'GET',
      '/api/v1/namespaces/kube-system/pods',
      { query: { labelSelector: 'k8s-app=kube-dns' } },
    );
    const pod = pods.items.find((p) => p.status?.phase === 'Running') ?? pods.items[0];
    if (!pod) throw new Error('no cluster DNS pod');
    return openPortForward(tunnelClient, {
      namespace: 'kube-system',
      pod: pod.metadata.name,
      port: 53,
      signal: request.signal,
    });
  },
  openUdp: () => Promise.reject(new Error('TCP only')),
};

const records = ClusterRecords.fromInformers(client, {
  clusterDomain: 'cluster.local',
  namespaces: 'all',
  fallbackNamespace: config.namespace,
});
const server = new DnsServer({
  records,
  clusterForwarder: createClusterForwarder(tunnel, config.clusterDns, { timeoutMs: 5000 }),
});
const system = createSystemDns({
  resolvConfPath: config.resolvConfPath,
  stateDir: config.stateDir,
  mode: 'resolvconf',
});
const record = await system.record('kvpn0');
const applied = await system.apply({
  serverAddress: config.address,
  linkName: 'kvpn0',
  clusterDomain: 'cluster.local',
  searchDomains: namespaceSearchDomains(config.namespace, 'cluster.local'),
});
server.setUpstreams(applied.upstreams);
await server.listenUdp(config.address, 53);
await server.listenTcp(config.address, 53);
// Ready once the connected namespace is watched.
await new Promise<void>((resolve) => {
  const ready = () => records.zone.serviceScope === 'all' || records.zone.serviceScope.has(config.namespace);
  if (ready()) return resolve();
  const off = records.onUpdate(() => {
    if (!ready()) return;
    off();
    resolve();
  });
});
say({ ready: true, applied, record, forbidden: records.forbidden() });
createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line === 'stats') say({ stats: server.stats(), tunnelDials });
  if (line === 'down') {
    records.close();
    await server.close();
    say({ down: await system.restore(record) });
    process.exit(0);
  }
});
