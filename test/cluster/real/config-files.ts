// The configuration files of the real world's daemons, as text. Each
// setting that is not a default says why.
import { type Addressing, gatewayOf } from '../ip-families.js';
import { NODE_IP, type RealLayout } from './layout.js';
import { pairPaths, type RealPki } from './pki.js';

export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';

export function containerdConfig(L: RealLayout): string {
  return `version = 2
root = "${L.containerdRoot}"
state = "${L.containerdState}"
oom_score = 0

[grpc]
  address = "${L.containerdSocket}"

[ttrpc]
  address = "${L.containerdSocket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${L.dir}/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # Root here lacks CAP_SYS_RESOURCE: runc could not lower oom_score_adj.
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${L.cniConfDir}"
    max_conf_num = 1
`;
}

/** One bridge for the node's pods; addresses (one per family) from host-local, kept in the world dir. */
export function cniConfig(L: RealLayout, A: Addressing): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'kvpn-test',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          // A pod reaching its own Service comes back through the bridge.
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: L.cniStateDir,
            ranges: A.nodePodCidrs.map((subnet) => [{ subnet, gateway: gatewayOf(subnet) }]),
            routes: A.nodePodCidrs.map((c) => ({ dst: c.includes(':') ? '::/0' : '0.0.0.0/0' })),
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

function kubeconfigFor(server: string, caPath: string, user: { cert: string; key: string }): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: kvpn-test
  cluster:
    server: ${server}
    certificate-authority: ${caPath}
users:
- name: component
  user:
    client-certificate: ${user.cert}
    client-key: ${user.key}
contexts:
- name: component
  context: {cluster: kvpn-test, user: component}
current-context: component
`;
}

/** Kubeconfig files of the components, by the name `pki.ts` issued their certificate under. */
export function componentKubeconfig(L: RealLayout, pki: RealPki, name: string): string {
  return kubeconfigFor(L.apiServerUrl, `${pki.dir}/ca.crt`, pairPaths(pki, name));
}

export function kubeletConfig(L: RealLayout, pki: RealPki, clusterDomain: string, A: Addressing): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${A.families === 'ipv4' ? NODE_IP : '"::"'}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${pki.dir}/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://${L.containerdSocket}
cgroupDriver: cgroupfs
# Every pod's cgroup under one directory of this world, removed with it.
cgroupRoot: ${L.cgroupRoot}
# This machine has cgroup v1; kubelet 1.34 still runs there when told to.
failCgroupV1: false
failSwapOn: false
clusterDNS: [${A.dnsServiceIp}]
clusterDomain: ${clusterDomain}
# Pods with dnsPolicy Default (CoreDNS) get the node's resolver: none here.
resolvConf: ${L.config('node-resolv.conf')}
podLogsDir: ${L.dir}/pod-logs
# A test machine's disk is as full as it is: never evict for it, never GC images we cannot pull again.
evictionHard: {memory.available: "1Mi", nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
# ConfigMap and Secret volumes follow the API quickly (tests wait for updates).
syncFrequency: 5s
nodeStatusUpdateFrequency: 5s
protectKernelDefaults: false
`;
}

export function kubeProxyConfig(L: RealLayout, A: Addressing): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${L.config('kube-proxy.kubeconfig')}
hostnameOverride: ${L.node}
mode: nftables
clusterCIDR: ${A.podCidrs.join(',')}
bindAddress: ${A.families === 'ipv4' ? NODE_IP : '"::"'}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Replies of a pod to a pod on the same bridge would bypass the node (no
# br_netfilter here): masquerade Service traffic so they come back through it.
nftables: {masqueradeAll: true}
iptables: {masqueradeAll: true}
# Leave the host's conntrack table size alone (it is not per namespace).
conntrack: {maxPerCore: 0, min: 0}
`;
}

/** CoreDNS as a cluster runs it (the kubernetes plugin), minus upstream forwarding: this world has no Internet. */
export function corefile(clusterDomain: string): string {
  return `.:53 {
    errors
    health :8080
    ready :8181
    kubernetes ${clusterDomain} in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    cache 30
    loop
    reload
    loadbalance
}
`;
}

/** The values the kubelet would otherwise write host-wide (it sets them at start). */
export const KUBELET_SYSCTLS: Record<string, string> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};
