// One real world, assembled inside its daemon process (which runs in the
// laptop network namespace, as the stand-in's does): the node namespace
// and its link to the laptop, PKI and config files, the node's daemons in
// dependency order, the images, the contexts' users and the workloads, and
// the laptop's upstream resolver. stop() takes all of it away again.
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import type { KObject } from '../apiserver/objects.js';
import { podIsReady } from '../apiserver/objects.js';
import { type Addressing, addressing, type IpFamilies, NODE_NET_V6 } from '../ip-families.js';
import { writeKubeconfig } from '../kubeconfig.js';
import { LaptopUpstream } from '../network/laptop-upstream.js';
import { inNetns, ipIn, run, sysctl } from '../network/shell.js';
import { sweepWorld } from '../network/sweep.js';
import { buildPrograms } from '../programs/build.js';
import type { WorldState } from '../world-config.js';
import { AdminApi } from './admin-api.js';
import { bootstrap } from './bootstrap.js';
import { createCgroupRoot } from './cgroups.js';
import {
  apiServerArgs,
  type Binaries,
  containerdArgs,
  controllerManagerArgs,
  etcdArgs,
  kubeletArgs,
  kubeProxyArgs,
  schedulerArgs,
} from './component-args.js';
import { cniConfig, componentKubeconfig, containerdConfig, kubeletConfig, kubeProxyConfig } from './config-files.js';
import { buildImages, importImages } from './images.js';
import { LAPTOP_IP, NODE_IP, type RealLayout } from './layout.js';
import { NodeProcesses } from './node-processes.js';
import { createRealPki, pairPaths } from './pki.js';

export interface RealWorldOptions {
  clusterDomain: string;
  owner: 'cli' | 'test';
  readyTimeoutMs: number;
  binaries: Binaries;
  /** Where built images are cached across worlds. */
  imageCache: string;
  ipFamilies: IpFamilies;
}

export class RealWorld {
  readonly layout: RealLayout;
  readonly opts: RealWorldOptions;
  readonly node: NodeProcesses;
  readonly upstream = new LaptopUpstream();
  readonly addressing: Addressing;
  api: AdminApi | undefined;
  #stopped = false;
  readonly log: (line: string) => void;

  constructor(layout: RealLayout, opts: RealWorldOptions, log: (line: string) => void) {
    this.layout = layout;
    this.opts = opts;
    this.log = log;
    this.node = new NodeProcesses(layout, log);
    this.addressing = addressing(opts.ipFamilies);
  }

  async start(): Promise<WorldState> {
    const L = this.layout;
    const t0 = Date.now();
    const deadline = t0 + this.opts.readyTimeoutMs;
    const step = (what: string): void => this.log(`${what} (${Date.now() - t0} ms)`);
    await mkdir(L.dir, { recursive: true, mode: 0o755 });
    await chmod(L.dir, 0o755);
    await mkdir(L.configDir, { recursive: true });
    const [pki, programs, images] = await Promise.all([
      this.#network().then(() =>
        createRealPki(
          L.pkiDir,
          [...new Set([NODE_IP, ...this.addressing.nodeIps, this.addressing.kubernetesServiceIp])],
          L.node,
          this.opts.clusterDomain,
        ),
      ),
      buildPrograms(L.programsDir),
      buildImages(this.opts.imageCache, { corednsBinary: this.opts.binaries.coredns }),
    ]);
    step('network, pki, programs and images ready');
    await this.#writeConfigs(pki);
    await this.upstream.start(L.laptopNetns, this.opts.clusterDomain);
    await createCgroupRoot(L.cgroupRoot);
    await this.node.createMountNamespace();

    const b = this.opts.binaries;
    await this.node.start('containerd', containerdArgs(L));
    await this.node.start('etcd', etcdArgs(L, b));
    await this.node.start('kube-apiserver', apiServerArgs(pki, b, this.opts.clusterDomain, this.addressing));
    await Promise.race([waitForSocket(L.containerdSocket, deadline), this.node.exited('containerd')]);
    await importImages(images, { address: L.containerdSocket });
    step('containerd up, images imported');
    const admin = pairPaths(pki, 'admin');
    this.api = new AdminApi(L.apiServerUrl, { ca: `${pki.dir}/ca.crt`, ...admin });
    await this.api.waitReady(deadline, Promise.race([this.node.exited('kube-apiserver'), this.node.exited('etcd')]));
    step('API server ready');
    await this.node.start('kube-controller-manager', controllerManagerArgs(L, pki, b, this.addressing));
    await this.node.start('kube-scheduler', schedulerArgs(L, b));
    await this.node.start('kubelet', kubeletArgs(L, b, this.addressing));
    await this.node.start('kube-proxy', kubeProxyArgs(L, b));

    const creds = await bootstrap(this.api, L.adminKubeconfig, programs, this.opts.clusterDomain, this.addressing);
    // The real API server authenticates these tokens itself: no stand-in user specs.
    const users = { ...creds, users: [] };
    await writeKubeconfig(
      L.kubeconfig,
      L.dir,
      L.apiServerUrl,
      { ca: pki.ca, server: pki.apiserver, admin: pki.admin },
      users,
    );
    step('contexts and workloads created');
    await this.#waitReady(deadline);
    step('every pod ready, Services answer from the node');
    return {
      id: L.id,
      dir: L.dir,
      owner: this.opts.owner,
      daemonPid: process.pid,
      kubeconfig: L.kubeconfig,
      laptopNetns: L.laptopNetns,
      apiServerUrl: L.apiServerUrl,
      apiServerPort: Number(new URL(L.apiServerUrl).port),
      clusterDomain: this.opts.clusterDomain,
      startedAt: new Date().toISOString(),
      kind: 'real',
      ipFamilies: this.opts.ipFamilies,
    };
  }

  /** laptop eth0 ── veth ── node eth0; the node routes the Service range so ClusterIPs work from it. */
  async #network(): Promise<void> {
    const L = this.layout;
    const node = L.nodeNetnsName;
    await run('ip', ['netns', 'add', node]);
    await ipIn(node, 'link', 'set', 'lo', 'up');
    await mkdir(`/etc/netns/${L.laptopNetns}`, { recursive: true });
    await ipIn(L.laptopNetns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node);
    await ipIn(L.laptopNetns, 'addr', 'add', `${LAPTOP_IP}/24`, 'dev', 'eth0');
    await ipIn(L.laptopNetns, 'link', 'set', 'eth0', 'up');
    await ipIn(node, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'eth0');
    await ipIn(node, 'link', 'set', 'eth0', 'up');
    await sysctl(node, 'net.ipv4.ip_forward', '1');
    if (this.addressing.families !== 'ipv4') {
      // nodad: the kubelet reads the node's addresses at once; a tentative one is not there yet.
      await ipIn(L.laptopNetns, '-6', 'addr', 'add', `${NODE_NET_V6}1/64`, 'dev', 'eth0', 'nodad');
      await ipIn(node, '-6', 'addr', 'add', `${NODE_NET_V6}2/64`, 'dev', 'eth0', 'nodad');
      await sysctl(node, 'net.ipv6.conf.all.forwarding', '1');
    }
    for (const cidr of this.addressing.serviceCidrs) await ipIn(node, 'route', 'add', cidr, 'dev', 'eth0');
  }

  async #writeConfigs(pki: Awaited<ReturnType<typeof createRealPki>>): Promise<void> {
    const L = this.layout;
    await mkdir(L.cniConfDir, { recursive: true });
    await mkdir(L.cniStateDir, { recursive: true });
    await mkdir(L.kubeletRoot, { recursive: true });
    const files: Record<string, string> = {
      'containerd.toml': containerdConfig(L),
      'kubelet.yaml': kubeletConfig(L, pki, this.opts.clusterDomain, this.addressing),
      'kube-proxy.yaml': kubeProxyConfig(L, this.addressing),
      'node-resolv.conf': '# the test world has no upstream DNS for pods\n',
      'kubelet.kubeconfig': componentKubeconfig(L, pki, 'kubelet'),
      'kube-proxy.kubeconfig': componentKubeconfig(L, pki, 'kube-proxy'),
      'controller-manager.kubeconfig': componentKubeconfig(L, pki, 'controller-manager'),
      'scheduler.kubeconfig': componentKubeconfig(L, pki, 'scheduler'),
    };
    for (const [name, text] of Object.entries(files)) await writeFile(L.config(name), text);
    await writeFile(`${L.cniConfDir}/10-kvpn.conflist`, cniConfig(L, this.addressing));
    await writeFile(L.adminKubeconfig, componentKubeconfig(L, pki, 'admin'), { mode: 0o600 });
  }

  /** Every workload's pods Ready, then a Service and the cluster DNS answer from the node. */
  async #waitReady(deadline: number): Promise<void> {
    const api = this.api as AdminApi;
    const broken = Promise.race(
      ['kubelet', 'kube-proxy', 'kube-apiserver', 'containerd'].map((n) => this.node.exited(n)),
    );
    for (;;) {
      const [pods, deployments, statefulsets] = await Promise.race([
        Promise.all([api.list('pods'), api.list('apps/deployments'), api.list('apps/statefulsets')]),
        broken,
      ]);
      const expected = [...deployments, ...statefulsets].reduce((n, d: KObject) => n + (d.spec?.replicas ?? 0), 0);
      if (pods.length === expected && pods.every((p) => podIsReady(p)) && (await this.#servicesAnswer())) return;
      if (Date.now() > deadline) {
        const summary = pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}=${p.status?.phase}`).join(' ');
        throw new Error(`real world not ready in time (${expected} pods expected): ${summary}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async #servicesAnswer(): Promise<boolean> {
    const svc = await this.api?.get('services', 'default', 'echo');
    const node = this.layout.nodeNetnsName;
    try {
      const ips: string[] = svc?.spec?.clusterIPs ?? [];
      for (const ip of ips) await inNetns(node, 'curl', ['-sf', '-g', '-m', '2', `http://${hostPart(ip)}/`]);
      const answers: string[] = [];
      for (const type of ['A', 'AAAA']) {
        const dns = await inNetns(node, 'dig', [
          '+short',
          '+time=1',
          '+tries=1',
          `@${this.addressing.dnsServiceIp}`,
          `echo.default.svc.${this.opts.clusterDomain}`,
          type,
        ]);
        answers.push(...dns.split('\n').filter(Boolean));
      }
      return ips.length > 0 && answers.sort().join() === [...ips].sort().join();
    } catch {
      return false;
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.upstream.close();
    await this.node.stop().catch((err) => this.log(`stopping the node: ${err}`));
    await sweepWorld(this.layout.id, this.layout.dir, process.pid);
  }
}

/** An IP as a URL's host: IPv6 in brackets. */
function hostPart(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

async function waitForSocket(path: string, deadline: number): Promise<void> {
  for (;;) {
    if (
      await stat(path).then(
        (s) => s.isSocket(),
        () => false,
      )
    )
      return;
    if (Date.now() > deadline) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
