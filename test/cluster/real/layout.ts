// Names, addresses and files of one real world. It has the stand-in's
// shape where tests look (laptop namespace, kubeconfig, world.json, the
// same CIDRs and cluster DNS address) and one node:
//
//   laptop (eth0 172.18.0.1) ── veth ── node0 (eth0 172.18.0.2: etcd, kube-apiserver :6443,
//                                        controller-manager, scheduler, containerd, kubelet,
//                                        kube-proxy; cni0 10.244.0.1/24 ── pods)
//
// cluster.addLaptop() adds laptops 2, 3, … (added-laptop.ts), each on a /24 of its own:
//
//   laptopN (eth0 172.18.N-1.1) ── veth ── node0 (laptopN 172.18.N-1.2)
//
// A laptop reaches the API server (at 172.18.0.2, the address its
// certificate names) and nothing else: no route to pods or Services.
// Every daemon of the node shares one private mount namespace (see
// mount-namespace.ts), so nothing they mount or write under /run,
// /var/log or /proc/sys reaches the host.
import { join } from 'node:path';
import { NODE_NET_PREFIX, WorldLayout } from '../world-config.js';
import { realWorldCgroupRoot } from './cgroups.js';

export const LAPTOP_IP = `${NODE_NET_PREFIX}.1`;
export const NODE_IP = `${NODE_NET_PREFIX}.2`;
export const API_SERVER_PORT = 6443;
export const NODE_POD_CIDR = '10.244.0.0/24';
/** 172.18.1.0/24 … 172.18.254.0/24: laptop n ≥ 2 gets 172.18.(n-1).0/24. */
export const MAX_LAPTOPS = 255;

/** Addresses of laptop n ≥ 2: its /24, its own end and the node's, and the node's end of the link. */
export function addedLaptopNet(n: number): { cidr: string; laptopIp: string; nodeSideIp: string; nodeLink: string } {
  if (!Number.isInteger(n) || n < 2 || n > MAX_LAPTOPS) throw new Error(`laptop ${n}: laptops are 2..${MAX_LAPTOPS}`);
  const net = `172.18.${n - 1}`;
  return { cidr: `${net}.0/24`, laptopIp: `${net}.1`, nodeSideIp: `${net}.2`, nodeLink: `laptop${n}` };
}

export class RealLayout extends WorldLayout {
  get nodeNetnsName(): string {
    return this.nodeNetns(0);
  }
  get node(): string {
    return this.nodeName(0);
  }
  /** The cgroup (in every v1 hierarchy) under which the kubelet puts every pod. */
  get cgroupRoot(): string {
    return realWorldCgroupRoot(this.id);
  }
  get apiServerUrl(): string {
    return `https://${NODE_IP}:${API_SERVER_PORT}`;
  }
  get logsDir(): string {
    return join(this.dir, 'logs');
  }
  logOf(component: string): string {
    return join(this.logsDir, `${component}.log`);
  }
  get configDir(): string {
    return join(this.dir, 'config');
  }
  config(name: string): string {
    return join(this.configDir, name);
  }
  get etcdDir(): string {
    return join(this.dir, 'etcd');
  }
  get containerdRoot(): string {
    return join(this.dir, 'containerd', 'root');
  }
  get containerdState(): string {
    return join(this.dir, 'containerd', 'state');
  }
  get containerdSocket(): string {
    return join(this.dir, 'containerd', 'containerd.sock');
  }
  get kubeletRoot(): string {
    return join(this.dir, 'kubelet');
  }
  get cniConfDir(): string {
    return join(this.dir, 'cni', 'net.d');
  }
  get cniStateDir(): string {
    return join(this.dir, 'cni', 'state');
  }
  /** Files whose contents are bind-mounted over /proc/sys entries the kubelet insists on. */
  get sysctlDir(): string {
    return join(this.dir, 'sysctl');
  }
  /** The pid of the process that holds the node's mount namespace. */
  get holderPidFile(): string {
    return join(this.dir, 'mount-namespace.pid');
  }
  /** Admin kubeconfig for the world's own tooling (the user's is `kubeconfig`). */
  get adminKubeconfig(): string {
    return join(this.dir, 'admin.kubeconfig');
  }
}
