// The IP families of `npm run bench -- stack` and the runs it makes per
// family. Each family has its own addresses on the same path: a client in the
// bench namespace dials `target`, the route sends it into the TUN, the stack
// hands it to the DirectDialer, which dials the family's server on loopback
// (127.0.0.1 or ::1). The kernel reference gives the veth pair the family's
// addresses too. Bulk and connections/s runs alternate between the families
// (IPv4, IPv6, IPv4, IPv6, …) so a change in the machine's load hits both.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Endpoint, Stack } from '../src/tun/stack/index.js';
import type { NetNs } from '../test/helpers/netns.js';

export const PEER = fileURLToPath(new URL('./_stack-peer.mjs', import.meta.url));
const MIB = 1 << 20;

export type Family = 4 | 6;

export interface FamilyPlan {
  label: 'IPv4' | 'IPv6';
  /** `ip` address-family flag. */
  flag: '-4' | '-6';
  /** The client's own address on the TUN (kernel side, bench namespace). */
  tunAddress: string;
  /** The range routed into the TUN, and the server's address in it as the client dials it. */
  routed: string;
  target: string;
  /** The stack's own address (answers ping; the bench does not use it). */
  stackAddress: string;
  /** Where the DirectDialer really dials: the server on this machine's loopback. */
  loopback: string;
  /** Kernel reference: the veth pair's two ends (client side, server side). */
  veth: [string, string];
}

// The IPv6 addresses are a ULA (fdc7:6b76:706e::/48, "kvpn") with a /126 pair on
// the TUN, as `kvpn up` gives it (src/session/tun-network.ts), and a /64 routed beside it.
export const FAMILIES: Record<Family, FamilyPlan> = {
  4: {
    label: 'IPv4',
    flag: '-4',
    tunAddress: '10.201.0.1/32',
    routed: '10.200.0.0/16',
    target: '10.200.0.5',
    stackAddress: '10.200.0.1',
    loopback: '127.0.0.1',
    veth: ['10.77.0.1/24', '10.77.0.2/24'],
  },
  6: {
    label: 'IPv6',
    flag: '-6',
    tunAddress: 'fdc7:6b76:706e:ff::1/126',
    routed: 'fdc7:6b76:706e:c8::/64',
    target: 'fdc7:6b76:706e:c8::5',
    stackAddress: 'fdc7:6b76:706e:ff::2',
    loopback: '::1',
    veth: ['fdc7:6b76:706e:77::1/64', 'fdc7:6b76:706e:77::2/64'],
  },
};

/** `--family 4|6|both` (default both). */
export function parseFamilies(args: string[]): Family[] {
  const i = args.indexOf('--family');
  const value = i >= 0 ? args[i + 1] : 'both';
  if (value === 'both') return [4, 6];
  if (value === '4' || value === '6') return [Number(value) as Family];
  throw new Error(`--family takes 4, 6 or both, not ${value}`);
}

/** The DirectDialer's map: every routed destination goes to the server on loopback of its own family. */
export function loopbackOf(destination: Endpoint): Endpoint {
  return { address: FAMILIES[destination.address.includes(':') ? 6 : 4].loopback, port: destination.port };
}

const addr = (a: string) => a.slice(0, a.indexOf('/'));

/**
 * Gives the TUN the family's address and routes the family's range into it.
 * IPv6 addresses skip DAD (`nodad`, as src/tun/routes-linux.ts does): a
 * tentative address can be neither bound nor a source until DAD ends.
 */
export async function routeIntoTun(ns: NetNs, device: string, plan: FamilyPlan): Promise<void> {
  const nodad = plan.flag === '-6' ? ['nodad'] : [];
  await ns.ip(plan.flag, 'addr', 'add', plan.tunAddress, 'dev', device, ...nodad);
  await ns.ip(plan.flag, 'route', 'add', plan.routed, 'dev', device, 'src', addr(plan.tunAddress));
}

/** The IPv6 addresses of the kernel reference's veth pair (vethPair gives the IPv4 ones). */
export async function addVethIpv6(a: NetNs, b: NetNs, ifA: string, ifB: string): Promise<void> {
  const [va, vb] = FAMILIES[6].veth;
  await a.ip('-6', 'addr', 'add', va, 'dev', ifA, 'nodad');
  await b.ip('-6', 'addr', 'add', vb, 'dev', ifB, 'nodad');
}

export const vethServerAddress = (plan: FamilyPlan) => addr(plan.veth[1]);

// --- peer processes (bench/_stack-peer.mjs) ---

type PeerOutput = Record<string, number | string>;

export function firstLine(child: ChildProcess): Promise<PeerOutput> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        child.stdout?.off('data', onData);
        resolve(JSON.parse(buf.slice(0, nl)));
      }
    };
    child.stdout?.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!buf.includes('\n')) reject(new Error(`peer exited ${code} without output`));
    });
  });
}

function spawnPeer(ns: NetNs | null, args: string[]): ChildProcess {
  const stdio: ['pipe', 'pipe', 'inherit'] = ['pipe', 'pipe', 'inherit'];
  return ns
    ? ns.spawn(process.execPath, [PEER, ...args], { stdio })
    : spawn(process.execPath, [PEER, ...args], { stdio });
}

async function peer(ns: NetNs | null, ...args: string[]): Promise<PeerOutput> {
  const out = await firstLine(spawnPeer(ns, args));
  if (out.error) throw new Error(`peer ${args[0]} ${args[1]}: ${out.error}`);
  return out;
}

export async function startServer(ns: NetNs | null, host: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawnPeer(ns, ['server', host]);
  const out = await firstLine(child);
  if (out.error) throw new Error(`peer server ${host}: ${out.error}`);
  return { child, port: Number(out.port) };
}

// --- counters ---

/** after − before, for every number in a (nested) counters object. */
export function counterDelta<T>(before: T, after: T): T {
  if (typeof after === 'number') return (after - (before as number)) as T;
  if (after === null || typeof after !== 'object') return after;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) out[k] = counterDelta((before as Record<string, unknown>)?.[k] ?? 0, v);
  return out as T;
}

/** a + b, for every number in a (nested) counters object. */
function counterSum<T>(a: T, b: T): T {
  if (typeof b === 'number') return (((a as number) ?? 0) + b) as T;
  if (b === null || typeof b !== 'object') return b;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(b)) out[k] = counterSum((a as Record<string, unknown>)?.[k] ?? 0, v);
  return out as T;
}

// --- the runs ---

export const REPEAT = 2;

export interface FamilyResult {
  uploadMiBps: number;
  downloadMiBps: number;
  connectionsPerSecond: number;
  /** Failed connects during all connections/s runs (a healthy run has none). */
  connectErrors: number;
  /** The stack's counters during this family's runs (through the stack only). */
  stack?: Stack['stats'];
}

export interface Path {
  /** Namespace the clients run in. */
  ns: NetNs;
  /** Per family: the address the client dials and the server's port. */
  server: (family: Family) => { host: string; port: number };
  /** Set when the path goes through the stack: its counters are kept per family. */
  stack?: Stack;
}

const rate = (bytes: number, ms: number) => bytes / MIB / (ms / 1000);

/**
 * Bulk each direction and connections/s, for each family: best of REPEAT
 * runs each (the machine is shared, the best run is the path's own speed),
 * the families alternating run by run.
 */
export async function measure(
  path: Path,
  families: Family[],
  sizeBytes: number,
  seconds: number,
): Promise<Map<Family, FamilyResult>> {
  const stats = new Map<Family, Stack['stats']>();
  const run = async (family: Family, mode: string, ...args: string[]) => {
    const { host, port } = path.server(family);
    const before = path.stack ? structuredClone(path.stack.stats) : null;
    const out = await peer(path.ns, mode, host, String(port), ...args);
    if (path.stack && before) {
      const delta = counterDelta(before, structuredClone(path.stack.stats));
      const sum = stats.get(family);
      stats.set(family, sum ? counterSum(sum, delta) : delta);
    }
    return out;
  };
  const best = async (mode: string, args: string[], value: (out: PeerOutput, family: Family) => number) => {
    const top = new Map<Family, number>();
    for (let i = 0; i < REPEAT; i++) {
      for (const f of families) top.set(f, Math.max(top.get(f) ?? 0, value(await run(f, mode, ...args), f)));
    }
    return top;
  };
  const transferRate = (mode: string) => (out: PeerOutput, f: Family) => {
    if (Number(out.bytes) !== sizeBytes) {
      throw new Error(`${FAMILIES[f].label} ${mode}: ${out.bytes} of ${sizeBytes} bytes arrived`);
    }
    return rate(Number(out.bytes), Number(out.ms));
  };
  const errors = new Map<Family, number>();
  const up = await best('upload', [String(sizeBytes)], transferRate('upload'));
  const down = await best('download', [String(sizeBytes)], transferRate('download'));
  const conn = await best('connrate', [String(seconds * 1000), '32'], (out, f) => {
    errors.set(f, (errors.get(f) ?? 0) + Number(out.errors));
    return Number(out.connections) / (Number(out.ms) / 1000);
  });
  return new Map(
    families.map((f) => [
      f,
      {
        uploadMiBps: up.get(f) ?? Number.NaN,
        downloadMiBps: down.get(f) ?? Number.NaN,
        connectionsPerSecond: conn.get(f) ?? Number.NaN,
        connectErrors: errors.get(f) ?? 0,
        stack: stats.get(f),
      },
    ]),
  );
}
