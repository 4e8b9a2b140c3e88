// This machine: Node.js, the TUN addon, /dev/net/tun with root or sudo, and
// the resolver `--dns auto` would configure. Every probe only looks: no
// device is created (/dev/net/tun is opened and closed without TUNSETIFF),
// no file written, no setting changed. The probes are injected, so the
// checks are pure functions of what they report.
import type { SystemDnsMode } from '../dns/index.js';
import { systemErrorCode } from '../errors.js';
import { type CheckResult, fail, failFrom, ok, oneLine, warn } from './check.js';

export const TUN_PATH = '/dev/net/tun';

// ── Node.js ─────────────────────────────────────────────────────────────────

/** [major, minor, patch] of "v20.19.1", "20.19", ">=20.19". */
export function parseVersion(text: string): [number, number, number] | undefined {
  const m = /(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

function atLeast(have: [number, number, number], want: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) {
    if ((have[i] ?? 0) !== (want[i] ?? 0)) return (have[i] ?? 0) > (want[i] ?? 0);
  }
  return true;
}

/** `engines.node` is ">=X.Y": the running Node must be at least X.Y. */
export function checkNode(running: string, engines: string): CheckResult {
  const title = `Node.js ${engines.replace('>=', '≥ ')}`;
  const have = parseVersion(running);
  const want = parseVersion(engines);
  if (!have || !want) return warn('node', title, `cannot compare ${running} with "${engines}"`);
  if (atLeast(have, want)) return ok('node', title, running);
  return fail(
    'node',
    title,
    `${running} is older than kvpn supports (${engines})`,
    'system',
    `Install Node.js ${want.slice(0, 2).join('.')} or newer, then reinstall kvpn (its TUN addon is built for one Node version).`,
  );
}

// ── The TUN addon ───────────────────────────────────────────────────────────

export async function checkTunAddon(platform: NodeJS.Platform, load: () => Promise<unknown>): Promise<CheckResult> {
  const title = 'TUN addon';
  if (platform !== 'linux') {
    return fail(
      'tun-addon',
      title,
      `TUN devices are not supported on ${platform} yet`,
      'system',
      'Run kvpn on Linux; macOS (utun) support is planned.',
    );
  }
  try {
    await load();
    return ok('tun-addon', title, 'the native addon (kvpn_tun.node) loads');
  } catch (err) {
    return failFrom('tun-addon', title, err, 'system');
  }
}

// ── /dev/net/tun, root or sudo ──────────────────────────────────────────────

export interface TunDeviceProbe {
  /** Resolves with whether the path is a character device; rejects like fs.stat. */
  isCharDevice(path: string): Promise<boolean>;
  /** Opens read/write and closes again (no TUNSETIFF: nothing is created); rejects like fs.open. */
  openReadWrite(path: string): Promise<void>;
  root: boolean;
  /** CAP_NET_ADMIN in the effective set (undefined: unknown). */
  netAdmin: boolean | undefined;
  /** The sudo `kvpn up` would re-run itself with, if any. */
  sudo: string | undefined;
}

export async function checkTunDevice(probe: TunDeviceProbe, path = TUN_PATH): Promise<CheckResult> {
  const id = 'tun-device';
  const title = `${path} and root`;
  const missing = (detail: string) =>
    fail(
      id,
      title,
      detail,
      'system',
      'Load the tun kernel module (`modprobe tun`) or, in a container, pass --device /dev/net/tun.',
    );
  let charDevice: boolean;
  try {
    charDevice = await probe.isCharDevice(path);
  } catch (err) {
    return missing(`${path} is not available (${systemErrorCode(err) ?? (err as Error).message})`);
  }
  if (!charDevice) return missing(`${path} is not a character device`);
  if (!probe.root) {
    if (probe.sudo) return ok(id, title, `${path} present; not root: kvpn up re-runs itself with ${probe.sudo}`);
    return fail(
      id,
      title,
      `${path} present, but you are not root and sudo is not available`,
      'system',
      "Run kvpn up as root, e.g. `su -c 'kvpn up'`, or install and configure sudo.",
    );
  }
  try {
    await probe.openReadWrite(path);
  } catch (err) {
    return fail(
      id,
      title,
      `cannot open ${path} read/write as root (${systemErrorCode(err) ?? (err as Error).message})`,
      'system',
      'In a container, pass --device /dev/net/tun and --cap-add NET_ADMIN.',
    );
  }
  if (probe.netAdmin === false) {
    return fail(
      id,
      title,
      `${path} opens, but this root has no CAP_NET_ADMIN: creating the device and its routes would be refused`,
      'system',
      'In a container, add the NET_ADMIN capability (--cap-add NET_ADMIN).',
    );
  }
  return ok(id, title, `${path} opens read/write as root`);
}

/** CAP_NET_ADMIN (bit 12) of a /proc/PID/status text's CapEff line. */
export function hasNetAdmin(procStatus: string): boolean | undefined {
  const hex = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(procStatus)?.[1];
  if (!hex) return undefined;
  return (BigInt(`0x${hex}`) & (1n << 12n)) !== 0n;
}

// ── DNS ─────────────────────────────────────────────────────────────────────

export interface DnsProbe {
  /** The mode `--dns auto` picks (src/dns SystemDns.detect); rejects where unsupported. */
  detect(): Promise<SystemDnsMode>;
  resolvConfPath: string;
  /** The symlink target of resolv.conf, or undefined when it is no symlink (or absent). */
  readlink(path: string): Promise<string | undefined>;
  /** The file's text, or undefined when absent. */
  readFile(path: string): Promise<string | undefined>;
  /** `resolvectl` answers (systemd-resolved mode needs it). */
  resolvectlWorks(): Promise<boolean>;
  /** resolv.conf's nameserver lines (src/dns parseResolvConf). */
  nameservers(text: string): string[];
}

/** The first line kvpn writes into a resolv.conf it manages (src/dns/resolv-conf.ts). */
const KVPN_WRITTEN = '# Written by kvpn.';

export async function checkDns(probe: DnsProbe): Promise<CheckResult> {
  const id = 'dns';
  const title = 'DNS (--dns auto)';
  let mode: SystemDnsMode;
  try {
    mode = await probe.detect();
  } catch (err) {
    const failed = failFrom(id, title, err, 'system');
    return {
      ...failed,
      fix: `${failed.fix ?? ''} Or run kvpn up --dns off (cluster names then do not resolve).`.trim(),
    };
  }
  if (mode === 'resolved') {
    if (await probe.resolvectlWorks()) return ok(id, title, 'systemd-resolved: per-link DNS on the kvpn device');
    return fail(
      id,
      title,
      'systemd-resolved is in use but `resolvectl` does not answer',
      'system',
      'Install resolvectl (systemd-resolved) or run kvpn up --dns resolvconf.',
    );
  }
  const path = probe.resolvConfPath;
  const target = await probe.readlink(path);
  if (target !== undefined) {
    return fail(
      id,
      title,
      `resolv.conf mode, but ${path} is a symlink to ${target}: kvpn does not edit files another tool manages`,
      'system',
      'Let kvpn replace the link for the session (kvpn up --dns-replace-symlink; it is put back on down), or start systemd-resolved.',
    );
  }
  const text = await probe.readFile(path);
  if (text?.startsWith(KVPN_WRITTEN)) {
    return fail(
      id,
      title,
      `${path} was written by kvpn and not put back (a session that did not clean up)`,
      'system',
      'Run kvpn down; if that finds nothing, remove kvpn’s nameserver line and header from the file.',
    );
  }
  const servers = probe.nameservers(text ?? '');
  if (servers.length === 0) {
    return warn(
      id,
      title,
      `resolv.conf mode: ${path} names no DNS server, so names outside the cluster will not resolve while kvpn is up`,
      `Add your DNS server to ${path}.`,
    );
  }
  return ok(id, title, oneLine(`resolv.conf: ${path} (backed up and restored on down), upstream ${servers.join(' ')}`));
}
