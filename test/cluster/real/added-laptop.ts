// A laptop added to a running real world (cluster.addLaptop()), made from
// the test process with `ip -n`: its own namespace with loopback up, a veth
// to the node on a /24 of its own, one route (to the API server's address,
// the one its certificate names), and a system resolver of the first
// laptop's kind (programs/laptop-upstream-main.ts) that writes its
// resolv.conf. Nothing routes it to pods or Services: kvpn must.
//
// remove() takes it away. Its names start with the world's id
// (`<world>-laptop<n>`, /etc/netns/<world>-laptop<n>), so the world's own
// stop and the crash sweep (network/sweep.ts) remove it too; the node's end
// of the veth goes with the pair.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { NetnsLaptop } from '../laptop.js';
import { inNetns, ipIn, run } from '../network/shell.js';
import { killNetnsProcesses } from '../network/topology.js';
import { addedLaptopNet, NODE_IP, type RealLayout } from './layout.js';

const UPSTREAM_READY_TIMEOUT_MS = 15_000;
const LINK_LOCAL_TIMEOUT_MS = 10_000;

export interface AddedLaptopOptions {
  clusterDomain: string;
  /** The bundled programs/laptop-upstream-main.ts of the world (programs/build.ts). */
  upstreamProgram: string;
}

export class AddedLaptop extends NetnsLaptop {
  /** 2, 3, …: the first laptop is the world's own. */
  readonly index: number;
  /** Its address on its link to the node. */
  readonly ip: string;
  #upstream: ChildProcess | undefined;
  #removed: Promise<void> | undefined;

  private constructor(name: string, index: number, ip: string) {
    super(name);
    this.index = index;
    this.ip = ip;
  }

  /** Laptop `n` (≥ 2) of the world whose node namespace `layout` names. */
  static async create(layout: RealLayout, n: number, opts: AddedLaptopOptions): Promise<AddedLaptop> {
    const net = addedLaptopNet(n);
    const node = layout.nodeNetnsName;
    const laptop = new AddedLaptop(layout.addedLaptopNetns(n), n, net.laptopIp);
    const name = laptop.name;
    try {
      await run('ip', ['netns', 'add', name]);
      await ipIn(name, 'link', 'set', 'lo', 'up');
      await ipIn(name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', net.nodeLink, 'netns', node);
      await ipIn(name, 'addr', 'add', `${net.laptopIp}/24`, 'dev', 'eth0');
      await ipIn(name, 'link', 'set', 'eth0', 'up');
      await ipIn(node, 'addr', 'add', `${net.nodeSideIp}/24`, 'dev', net.nodeLink);
      await ipIn(node, 'link', 'set', net.nodeLink, 'up');
      await ipIn(name, 'route', 'add', `${NODE_IP}/32`, 'via', net.nodeSideIp, 'dev', 'eth0');
      await linkLocalSettled(name);
      await mkdir(`/etc/netns/${name}`, { recursive: true });
      laptop.#upstream = await startUpstream(laptop.path, name, opts);
    } catch (err) {
      await laptop.remove();
      throw err;
    }
    return laptop;
  }

  /** Kills everything running in it, deletes the namespace (the veth pair with it) and its /etc/netns files. Idempotent. */
  remove(): Promise<void> {
    this.#removed ??= (async () => {
      this.#upstream?.kill('SIGTERM');
      await killNetnsProcesses(this.name);
      await run('ip', ['netns', 'delete', this.name]).catch(() => undefined);
      await rm(`/etc/netns/${this.name}`, { recursive: true, force: true });
    })();
    return this.#removed;
  }
}

/**
 * Waits until eth0's IPv6 link-local address has passed duplicate address
 * detection (its local route is in): until then the laptop's routes are
 * still changing on their own, and a snapshot taken before `kvpn up`
 * differs from one after `down` by that route alone.
 */
async function linkLocalSettled(netns: string): Promise<void> {
  const disabled = await inNetns(netns, 'sysctl', ['-n', 'net.ipv6.conf.eth0.disable_ipv6']).catch(() => '1');
  if (disabled.trim() !== '0') return;
  const deadline = Date.now() + LINK_LOCAL_TIMEOUT_MS;
  while (!/^local fe80:/m.test(await ipIn(netns, '-6', 'route', 'show', 'table', 'local', 'dev', 'eth0'))) {
    if (Date.now() > deadline)
      throw new Error(`${netns}: eth0 has no IPv6 link-local address after ${LINK_LOCAL_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the laptop's resolver inside it; resolves once it printed READY (its resolv.conf is written). */
async function startUpstream(netnsPath: string, name: string, opts: AddedLaptopOptions): Promise<ChildProcess> {
  const child = spawn(
    'nsenter',
    [`--net=${netnsPath}`, process.execPath, opts.upstreamProgram, name, opts.clusterDomain],
    {
      // stdin stays open: when the test process dies, the pipe closes and the resolver exits.
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => fail(new Error(`${name}: its resolver was not ready in time`)),
      UPSTREAM_READY_TIMEOUT_MS,
    );
    const fail = (err: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (!out.includes('READY\n')) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve();
    });
    child.once('exit', (code) => fail(new Error(`${name}: its resolver exited with ${code} before it was ready`)));
    child.once('error', fail);
  });
  return child;
}
