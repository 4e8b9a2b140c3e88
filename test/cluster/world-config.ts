// Names, address plan and file layout of one test world. Every name the
// world creates outside its own directory (network namespaces, files under
// /etc/netns) starts with the world's prefix, so `down` can find a crashed
// world's leftovers and two worlds can run side by side.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/** Every world's prefix starts with this; a world id is PREFIX + 4 hex digits. */
export const WORLD_PREFIX = 'kc';
export const WORLDS_ROOT = '/tmp/kvpn-cluster';
/** initdb once, copy many times (kept across worlds). */
export const CACHE_ROOT = '/var/tmp/kvpn-cluster-cache';
/** The real world's built components and images (kept across worlds; KVPN_REAL_CACHE overrides). */
export const REAL_CACHE_ROOT = '/var/tmp/kvpn-real';

export const POD_CIDR = '10.244.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/12';
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
export const DNS_SERVICE_IP = '10.96.0.10';
/** A world's cluster domain unless it is started with another (startCluster({ clusterDomain })). */
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

/** A cluster domain the stand-in accepts: lower-case DNS labels, as the kubelet's --cluster-domain. */
export function isClusterDomain(s: string): boolean {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(s) && s.length <= 200;
}
/** Node addresses on the fabric bridge that joins the nodes (like kind's docker network). */
export const NODE_NET_PREFIX = '172.18.0';
/** The laptop's "system resolver" (its upstream DNS) and a name it knows. */
export const UPSTREAM_DNS_IP = '127.0.0.53';
export const UPSTREAM_TEST_NAME = 'example.test';
export const UPSTREAM_TEST_IP = '127.0.0.80';

export const K8S_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.4' } as const;

export function newWorldId(): string {
  return `${WORLD_PREFIX}${randomBytes(2).toString('hex')}`;
}

export function isWorldId(s: string): boolean {
  return new RegExp(`^${WORLD_PREFIX}[0-9a-f]{4}$`).test(s);
}

/** Where a world keeps its files, and what its namespaces are called. */
export class WorldLayout {
  readonly id: string;
  readonly dir: string;

  constructor(id: string, root = WORLDS_ROOT) {
    this.id = id;
    this.dir = join(root, id);
  }

  get laptopNetns(): string {
    return `${this.id}-laptop`;
  }
  /** Laptop n (2, 3, …), made by cluster.addLaptop() in the real world; the first is laptopNetns. */
  addedLaptopNetns(n: number): string {
    return `${this.id}-laptop${n}`;
  }
  get fabricNetns(): string {
    return `${this.id}-fabric`;
  }
  nodeNetns(index: number): string {
    return `${this.id}-node${index}`;
  }
  podNetns(seq: number): string {
    return `${this.id}-pod${seq}`;
  }
  nodeName(index: number): string {
    return `${this.id}-worker${index}`;
  }
  nodeIp(index: number): string {
    return `${NODE_NET_PREFIX}.${index + 2}`;
  }
  nodePodCidr(index: number): string {
    return `10.244.${index}.0/24`;
  }

  get stateFile(): string {
    return join(this.dir, 'world.json');
  }
  get controlSocket(): string {
    return join(this.dir, 'control.sock');
  }
  get kubeconfig(): string {
    return join(this.dir, 'kubeconfig');
  }
  get pkiDir(): string {
    return join(this.dir, 'pki');
  }
  get logFile(): string {
    return join(this.dir, 'daemon.log');
  }
  get programsDir(): string {
    return join(this.dir, 'programs');
  }
  get dnsRecordsDir(): string {
    return join(this.dir, 'dns');
  }
  podDir(uid: string): string {
    return join(this.dir, 'pods', uid);
  }
}

/** What a running world writes to world.json for the CLI and for `down`. */
export interface WorldState {
  id: string;
  dir: string;
  owner: 'cli' | 'test';
  daemonPid: number;
  kubeconfig: string;
  laptopNetns: string;
  apiServerUrl: string;
  apiServerPort: number;
  /** What every name in the world ends with: cluster DNS zone, pod resolv.conf, certificates. */
  clusterDomain: string;
  startedAt: string;
  /** Our stand-in (the default) or real Kubernetes components (test/cluster/real). */
  kind?: 'stand-in' | 'real';
  /** Real world: the IP families inside the cluster (ip-families.ts); the stand-in is always ipv4. */
  ipFamilies?: 'ipv4' | 'dual' | 'ipv6';
}
