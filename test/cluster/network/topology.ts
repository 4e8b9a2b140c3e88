// The world's network namespaces and links:
//
//   laptop                    (lo only: kvpn, clients, the API server)
//   fabric  ── br0 ──┬── eth0 node0 (172.18.0.2)  cbr0 10.244.0.1/24 ── veth ── pod netns (eth0 10.244.0.N)
//                    └── eth0 node1 (172.18.0.3)  cbr0 10.244.1.1/24 ── veth ── pod netns …
//
// Nodes route each other's pod /24 over the fabric; Service rules live in
// every node (network/service-rules.ts). The laptop has no link to any of it.
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { DNS_SERVICE_IP, SERVICE_CIDR, type WorldLayout } from '../world-config.js';
import { PodIpAllocator } from './ipam.js';
import { ipIn, run, sysctl } from './shell.js';

export interface NodeNet {
  index: number;
  netns: string;
  ip: string;
  podCidr: string;
  ips: PodIpAllocator;
}

export interface PodNet {
  netns: string;
  ip: string;
  node: number;
  hostVeth: string;
}

async function addNetns(name: string): Promise<void> {
  await run('ip', ['netns', 'add', name]);
  await ipIn(name, 'link', 'set', 'lo', 'up');
}

export class WorldNetwork {
  readonly layout: WorldLayout;
  readonly nodes: NodeNet[] = [];
  /** Pods' resolv.conf search list and hostnames end with it. */
  readonly clusterDomain: string;
  #podSeq = 0;

  constructor(layout: WorldLayout, nodeCount: number, clusterDomain: string) {
    this.layout = layout;
    this.clusterDomain = clusterDomain;
    for (let i = 0; i < nodeCount; i++) {
      this.nodes.push({
        index: i,
        netns: layout.nodeNetns(i),
        ip: layout.nodeIp(i),
        podCidr: layout.nodePodCidr(i),
        ips: new PodIpAllocator(layout.nodePodCidr(i)),
      });
    }
  }

  async create(): Promise<void> {
    const L = this.layout;
    // The launcher made the laptop namespace (this process runs inside it).
    await Promise.all([addNetns(L.fabricNetns), ...this.nodes.map((n) => addNetns(n.netns))]);
    await mkdir(`/etc/netns/${L.laptopNetns}`, { recursive: true });
    await ipIn(L.fabricNetns, 'link', 'add', 'br0', 'type', 'bridge');
    await ipIn(L.fabricNetns, 'link', 'set', 'br0', 'up');
    await Promise.all(this.nodes.map((n) => this.#createNode(n)));
  }

  async #createNode(n: NodeNet): Promise<void> {
    const F = this.layout.fabricNetns;
    const port = `n${n.index}`;
    await ipIn(n.netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', F);
    await ipIn(F, 'link', 'set', port, 'master', 'br0', 'up');
    await ipIn(n.netns, 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0');
    await ipIn(n.netns, 'link', 'set', 'eth0', 'up');
    await ipIn(n.netns, 'link', 'add', 'cbr0', 'type', 'bridge');
    await ipIn(n.netns, 'addr', 'add', `${n.ips.gateway}/24`, 'dev', 'cbr0');
    await ipIn(n.netns, 'link', 'set', 'cbr0', 'up');
    await sysctl(n.netns, 'net.ipv4.ip_forward', '1');
    await sysctl(n.netns, 'net.bridge.bridge-nf-call-iptables', '1').catch(() => undefined);
    // Service IPs are never on a link: the route only gets packets to the
    // filter hook, which rejects what kube-proxy rules did not DNAT.
    await ipIn(n.netns, 'route', 'add', SERVICE_CIDR, 'dev', 'cbr0');
    for (const other of this.nodes) {
      if (other.index !== n.index) await ipIn(n.netns, 'route', 'add', other.podCidr, 'via', other.ip, 'dev', 'eth0');
    }
  }

  /** A pod's sandbox: its namespace, veth on the node bridge, IP, resolver files. */
  async addPod(
    nodeIndex: number,
    podName: string,
    podNamespace: string,
    hostname: string,
    subdomain?: string,
  ): Promise<PodNet> {
    const node = this.nodes[nodeIndex];
    if (!node) throw new Error(`no node ${nodeIndex}`);
    const seq = ++this.#podSeq;
    const netns = this.layout.podNetns(seq);
    const hostVeth = `veth${seq}`;
    const ip = node.ips.allocate();
    try {
      await addNetns(netns);
      await ipIn(node.netns, 'link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      await ipIn(node.netns, 'link', 'set', hostVeth, 'master', 'cbr0', 'up');
      // As the CNI bridge plugin's hairpinMode: a pod reaching itself through its Service.
      await ipIn(node.netns, 'link', 'set', hostVeth, 'type', 'bridge_slave', 'hairpin', 'on');
      await ipIn(netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
      await ipIn(netns, 'link', 'set', 'eth0', 'up');
      await ipIn(netns, 'route', 'add', 'default', 'via', node.ips.gateway);
      const etc = `/etc/netns/${netns}`;
      await mkdir(etc, { recursive: true });
      await writeFile(`${etc}/resolv.conf`, podResolvConf(podNamespace, this.clusterDomain));
      const fqdn = subdomain ? `${hostname}.${subdomain}.${podNamespace}.svc.${this.clusterDomain}` : undefined;
      await writeFile(`${etc}/hosts`, podHosts(ip, hostname, fqdn));
    } catch (err) {
      node.ips.release(ip);
      await this.removePodNetns(netns);
      throw err;
    }
    void podName;
    return { netns, ip, node: nodeIndex, hostVeth };
  }

  async removePod(pod: PodNet): Promise<void> {
    await this.removePodNetns(pod.netns);
    this.nodes[pod.node]?.ips.release(pod.ip);
  }

  async removePodNetns(netns: string): Promise<void> {
    await killNetnsProcesses(netns);
    await run('ip', ['netns', 'delete', netns]).catch(() => undefined);
    await rm(`/etc/netns/${netns}`, { recursive: true, force: true });
  }
}

/** What a kubelet writes for a pod with dnsPolicy ClusterFirst (its --cluster-dns, --cluster-domain). */
export function podResolvConf(namespace: string, clusterDomain: string): string {
  return [
    `search ${namespace}.svc.${clusterDomain} svc.${clusterDomain} ${clusterDomain}`,
    `nameserver ${DNS_SERVICE_IP}`,
    'options ndots:5',
    '',
  ].join('\n');
}

function podHosts(ip: string, hostname: string, fqdn?: string): string {
  return [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    fqdn ? `${ip}\t${fqdn}\t${hostname}` : `${ip}\t${hostname}`,
    '',
  ].join('\n');
}

/**
 * SIGKILLs every process whose network namespace is `netns`, until none is
 * left. Reads /proc itself: `ip netns pids` gives up (and lists nothing)
 * when a process exits while it scans, which left containerd shims behind.
 */
export async function killNetnsProcesses(netns: string, sparePid?: number): Promise<void> {
  const target = await stat(`/run/netns/${netns}`).catch(() => undefined);
  if (!target) return;
  for (let round = 0; round < 20; round++) {
    let found = 0;
    for (const entry of await readdir('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === sparePid || pid === process.pid) continue;
      const ns = await stat(`/proc/${pid}/ns/net`).catch(() => undefined);
      if (ns?.ino !== target.ino || ns.dev !== target.dev) continue;
      found++;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    if (found === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
