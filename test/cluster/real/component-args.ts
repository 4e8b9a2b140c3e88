// The command lines of the node's daemons. The binaries come from
// build-components.sh: `kube COMPONENT` is the upstream command itself.
import { join } from 'node:path';
import type { Addressing } from '../ip-families.js';
import { API_SERVER_PORT, type RealLayout } from './layout.js';
import { pairPaths, type RealPki } from './pki.js';

export interface Binaries {
  kube: string;
  etcd: string;
  coredns: string;
}

export function binariesIn(dir: string): Binaries {
  return { kube: join(dir, 'kube'), etcd: join(dir, 'etcd'), coredns: join(dir, 'coredns') };
}

export function containerdArgs(L: RealLayout): string[] {
  return ['containerd', '--config', L.config('containerd.toml')];
}

export function etcdArgs(L: RealLayout, bin: Binaries): string[] {
  return [
    bin.etcd,
    '--name=node0',
    `--data-dir=${L.etcdDir}`,
    '--listen-client-urls=http://127.0.0.1:2379',
    '--advertise-client-urls=http://127.0.0.1:2379',
    '--listen-peer-urls=http://127.0.0.1:2380',
    '--initial-advertise-peer-urls=http://127.0.0.1:2380',
    '--initial-cluster=node0=http://127.0.0.1:2380',
    // A throwaway store: durability buys nothing, fsync costs seconds.
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

export function apiServerArgs(pki: RealPki, bin: Binaries, clusterDomain: string, A: Addressing): string[] {
  const serving = pairPaths(pki, 'apiserver');
  const kubeletClient = pairPaths(pki, 'apiserver-kubelet-client');
  return [
    bin.kube,
    'kube-apiserver',
    '--etcd-servers=http://127.0.0.1:2379',
    // The kubernetes Service's endpoint: of the primary Service family, as the API server requires.
    `--advertise-address=${A.nodeIps[0]}`,
    // '::' also takes IPv4 (the laptops reach 172.18.0.2 in every plan).
    `--bind-address=${A.families === 'ipv4' ? '0.0.0.0' : '::'}`,
    `--secure-port=${API_SERVER_PORT}`,
    `--service-cluster-ip-range=${A.serviceCidrs.join(',')}`,
    `--tls-cert-file=${serving.cert}`,
    `--tls-private-key-file=${serving.key}`,
    `--client-ca-file=${pki.dir}/ca.crt`,
    `--kubelet-client-certificate=${kubeletClient.cert}`,
    `--kubelet-client-key=${kubeletClient.key}`,
    '--kubelet-preferred-address-types=InternalIP',
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    `--service-account-issuer=https://kubernetes.default.svc.${clusterDomain}`,
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    '--allow-privileged=true',
    '--profiling=false',
    '--v=1',
  ];
}

export function controllerManagerArgs(L: RealLayout, pki: RealPki, bin: Binaries, A: Addressing): string[] {
  return [
    bin.kube,
    'kube-controller-manager',
    `--kubeconfig=${L.config('controller-manager.kubeconfig')}`,
    `--authentication-kubeconfig=${L.config('controller-manager.kubeconfig')}`,
    `--authorization-kubeconfig=${L.config('controller-manager.kubeconfig')}`,
    '--bind-address=127.0.0.1',
    '--leader-elect=false',
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    `--root-ca-file=${pki.dir}/ca.crt`,
    `--cluster-signing-cert-file=${pki.dir}/ca.crt`,
    `--cluster-signing-key-file=${pki.dir}/ca.key`,
    '--allocate-node-cidrs=true',
    `--cluster-cidr=${A.podCidrs.join(',')}`,
    // One /24 and one /64 per node, as the CNI config (config-files.ts) expects for node0.
    ...(A.families === 'ipv6' ? ['--node-cidr-mask-size=64'] : []),
    ...(A.families === 'ipv4' ? ['--node-cidr-mask-size=24'] : []),
    ...(A.families === 'dual' ? ['--node-cidr-mask-size-ipv4=24', '--node-cidr-mask-size-ipv6=64'] : []),
    `--service-cluster-ip-range=${A.serviceCidrs.join(',')}`,
    '--v=1',
  ];
}

export function schedulerArgs(L: RealLayout, bin: Binaries): string[] {
  return [
    bin.kube,
    'kube-scheduler',
    `--kubeconfig=${L.config('scheduler.kubeconfig')}`,
    `--authentication-kubeconfig=${L.config('scheduler.kubeconfig')}`,
    `--authorization-kubeconfig=${L.config('scheduler.kubeconfig')}`,
    '--bind-address=127.0.0.1',
    '--leader-elect=false',
  ];
}

export function kubeletArgs(L: RealLayout, bin: Binaries, A: Addressing): string[] {
  return [
    bin.kube,
    'kubelet',
    `--config=${L.config('kubelet.yaml')}`,
    `--kubeconfig=${L.config('kubelet.kubeconfig')}`,
    `--root-dir=${L.kubeletRoot}`,
    `--cert-dir=${L.kubeletRoot}/pki`,
    `--hostname-override=${L.node}`,
    `--node-ip=${A.nodeIps.join(',')}`,
    '--v=1',
  ];
}

export function kubeProxyArgs(L: RealLayout, bin: Binaries): string[] {
  return [bin.kube, 'kube-proxy', `--config=${L.config('kube-proxy.yaml')}`, '--v=1'];
}
