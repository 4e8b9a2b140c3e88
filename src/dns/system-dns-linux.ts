// Linux resolver integration. With systemd-resolved in use: per-link DNS
// on the TUN link and routing domains (~cluster.local plus the namespace
// search domains) through resolvectl, so other names keep using the
// user's resolvers untouched. Without it: /etc/resolv.conf is replaced by
// one that names our server first (the original kept byte for byte in the
// state directory) and put back on restore. The state file is written
// before anything changes; a leftover whose owner died is undone at the
// next apply(), restore() or repairLeftovers().
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, lstat, mkdir, open, readFile, readlink, rename, rm, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { systemErrorCode } from '../errors.js';
import { SystemDnsError } from './errors.js';
import { KVPN_HEADER, parseResolvConf, renderKvpnResolvConf } from './resolv-conf.js';
import type {
  AppliedDns,
  RestoreResult,
  SystemDns,
  SystemDnsConfig,
  SystemDnsMode,
  SystemDnsOptions,
} from './system-dns.js';

const execFileP = promisify(execFile);

export const STATE_FILE = 'dns-state.json';
export const BACKUP_FILE = 'resolv.conf.kvpn-backup';
const RESOLVED_STUB = '/run/systemd/resolve/stub-resolv.conf';
const RESOLVECTL_TIMEOUT_MS = 5000;

type Original = { kind: 'file'; mode: number } | { kind: 'symlink'; target: string } | { kind: 'absent' };

type State =
  | {
      version: 1;
      mode: 'resolv.conf';
      ownerPid: number;
      ownerStart: string | undefined;
      resolvConfPath: string;
      backupPath: string;
      original: Original;
      writtenSha256: string;
    }
  | { version: 1; mode: 'resolved'; ownerPid: number; ownerStart: string | undefined; link: string };

/** Which tool a resolv.conf symlink belongs to, by where it points. */
export function symlinkManager(target: string): string {
  if (target.includes('/systemd/resolve/')) return 'systemd-resolved';
  if (target.includes('/resolvconf/')) return 'resolvconf';
  if (target.includes('NetworkManager')) return 'NetworkManager';
  if (target.includes('/connman/')) return 'connman';
  if (target.includes('netconfig')) return 'netconfig';
  return 'another tool';
}

export class LinuxSystemDns implements SystemDns {
  readonly #stateDir: string;
  readonly #resolvConf: string;
  readonly #mode: 'auto' | SystemDnsMode;
  readonly #stub: string;
  readonly #resolvectl: string;
  readonly #replaceSymlink: boolean;
  readonly #ownerPid: number;

  constructor(options: SystemDnsOptions) {
    this.#stateDir = options.stateDir;
    this.#resolvConf = options.resolvConfPath ?? '/etc/resolv.conf';
    this.#mode = options.mode ?? 'auto';
    this.#stub = options.stubResolvConfPath ?? RESOLVED_STUB;
    this.#resolvectl = options.resolvectl ?? 'resolvectl';
    this.#replaceSymlink = options.replaceSymlink ?? false;
    this.#ownerPid = options.ownerPid ?? process.pid;
  }

  get #statePath(): string {
    return join(this.#stateDir, STATE_FILE);
  }

  async detect(): Promise<SystemDnsMode> {
    if (this.#mode !== 'auto') return this.#mode;
    return (await this.#resolvedInUse()) ? 'resolved' : 'resolv.conf';
  }

  async apply(config: SystemDnsConfig): Promise<AppliedDns> {
    const notes = [...(await this.#repair(true)).notes];
    await mkdir(this.#stateDir, { recursive: true, mode: 0o700 });
    const mode = await this.detect();
    if (mode === 'resolved') {
      await this.#applyResolved(config);
      return { mode, upstreams: [], notes };
    }
    return this.#applyResolvConf(config, notes);
  }

  async restore(): Promise<RestoreResult> {
    const state = await this.#readState();
    if (!state) return { restored: false, notes: [] };
    return this.#undo(state);
  }

  async repairLeftovers(): Promise<RestoreResult> {
    return this.#repair(false);
  }

  /** Undoes a previous session's change if its owner is gone (or is us, when re-applying). */
  async #repair(reapplying: boolean): Promise<RestoreResult> {
    const state = await this.#readState();
    if (!state) {
      await this.#checkOrphanFile();
      return { restored: false, notes: [] };
    }
    const ours = state.ownerPid === this.#ownerPid && reapplying;
    if (!ours && state.ownerPid !== this.#ownerPid && ownerAlive(state.ownerPid, state.ownerStart)) {
      throw new SystemDnsError(
        'KVPN_ERR_DNS_BUSY',
        `DNS is configured by another kvpn session (pid ${state.ownerPid})`,
        {
          remedy: 'Run `kvpn down` for that session first.',
        },
      );
    }
    const result = await this.#undo(state);
    if (!ours)
      result.notes.unshift(
        `repaired the DNS settings left by a kvpn session that ended without cleaning up (pid ${state.ownerPid})`,
      );
    return result;
  }

  /** Our header in resolv.conf with no state file: say so rather than guess. */
  async #checkOrphanFile(): Promise<void> {
    const text = await readFile(this.#resolvConf, 'utf8').catch(() => '');
    if (!text.startsWith(KVPN_HEADER)) return;
    const backup = join(this.#stateDir, BACKUP_FILE);
    throw new SystemDnsError(
      'KVPN_ERR_DNS_LEFTOVER',
      `${this.#resolvConf} was written by kvpn but its state file is missing`,
      {
        remedy: existsSync(backup)
          ? `Copy ${backup} over ${this.#resolvConf}.`
          : `Edit ${this.#resolvConf}: remove kvpn's nameserver line and its header comment.`,
      },
    );
  }

  async #resolvedInUse(): Promise<boolean> {
    const running = existsSync(this.#stub) || (await this.#resolvectlOk(['--no-pager', 'status']));
    if (!running) return false;
    const link = await readlink(this.#resolvConf).catch(() => undefined);
    if (link !== undefined) return symlinkManager(link) === 'systemd-resolved';
    const text = await readFile(this.#resolvConf, 'utf8').catch(() => '');
    return parseResolvConf(text).nameservers.some((s) => s === '127.0.0.53' || s === '127.0.0.54');
  }

  async #applyResolved(config: SystemDnsConfig): Promise<void> {
    await this.#writeState({
      version: 1,
      mode: 'resolved',
      ownerPid: this.#ownerPid,
      ownerStart: processStart(this.#ownerPid),
      link: config.linkName,
    });
    const domains = [
      `~${config.clusterDomain}`,
      ...config.searchDomains,
      ...(config.routingDomains ?? []).map((d) => (d.startsWith('~') ? d : `~${d}`)),
    ];
    await this.#resolvectlRun(['dns', config.linkName, config.serverAddress]);
    await this.#resolvectlRun(['domain', config.linkName, ...domains]);
    // Optional refinements, absent from older systemd: never the default route, no DNSSEC for our zone.
    await this.#resolvectlOk(['default-route', config.linkName, 'false']);
    await this.#resolvectlOk(['dnssec', config.linkName, 'no']);
    await this.#resolvectlOk(['flush-caches']);
  }

  async #applyResolvConf(config: SystemDnsConfig, notes: string[]): Promise<AppliedDns> {
    const path = this.#resolvConf;
    let original: Original;
    let bytes: Buffer;
    const info = await lstat(path).catch((err: unknown) => {
      if (systemErrorCode(err) === 'ENOENT') return undefined;
      throw this.#systemError(`cannot read ${path}`, err);
    });
    if (!info) {
      original = { kind: 'absent' };
      bytes = Buffer.alloc(0);
    } else if (info.isSymbolicLink()) {
      const target = await readlink(path);
      const manager = symlinkManager(target);
      if (!this.#replaceSymlink) {
        const resolvedNote = manager === 'systemd-resolved' ? ' and systemd-resolved is not running' : '';
        throw new SystemDnsError(
          'KVPN_ERR_DNS_RESOLV_CONF_MANAGED',
          `${path} is a symlink to ${target}, managed by ${manager}${resolvedNote}; kvpn does not edit files another tool manages`,
          {
            remedy:
              manager === 'systemd-resolved'
                ? 'Start systemd-resolved (kvpn then configures it per link), or let kvpn replace the link for the session (--dns-replace-symlink).'
                : `Let kvpn replace the link for the session (--dns-replace-symlink; it is put back on down), or configure ${manager} to use kvpn's DNS server.`,
          },
        );
      }
      original = { kind: 'symlink', target };
      bytes = await readFile(path).catch(() => Buffer.alloc(0));
      notes.push(`${path} was a symlink managed by ${manager}; it is replaced for the session and put back on down`);
    } else {
      original = { kind: 'file', mode: info.mode & 0o7777 };
      bytes = await readFile(path);
    }
    const parsed = parseResolvConf(bytes.toString('utf8'));
    if (bytes.toString('utf8').startsWith('# Generated by NetworkManager')) {
      notes.push(
        `NetworkManager may rewrite ${path} while kvpn is up; if cluster names stop resolving, run kvpn up again`,
      );
    }
    const backupPath = join(this.#stateDir, BACKUP_FILE);
    const text = renderKvpnResolvConf(parsed, {
      server: config.serverAddress,
      searchDomains: config.searchDomains,
      backupPath,
    });
    // Write-ahead: the backup and the state are on disk before the file changes.
    await writeDurably(backupPath, bytes, 0o600);
    await this.#writeState({
      version: 1,
      mode: 'resolv.conf',
      ownerPid: this.#ownerPid,
      ownerStart: processStart(this.#ownerPid),
      resolvConfPath: resolve(path),
      backupPath,
      original,
      writtenSha256: sha256(Buffer.from(text)),
    });
    try {
      if (original.kind === 'symlink') await unlink(path);
      await replaceFile(path, Buffer.from(text), original.kind === 'file' ? original.mode : 0o644);
    } catch (err) {
      throw this.#systemError(`cannot write ${path}`, err);
    }
    const upstreams = parsed.nameservers
      .filter((s) => s !== config.serverAddress)
      .map((address) => ({ address: address.split('%')[0] ?? address, port: 53 }));
    if (upstreams.length === 0) notes.push(`${path} named no DNS servers: names outside the cluster will not resolve`);
    return { mode: 'resolv.conf', upstreams, notes };
  }

  async #undo(state: State): Promise<RestoreResult> {
    const notes: string[] = [];
    if (state.mode === 'resolved') {
      // A link that is gone took its settings with it (revert then fails, harmlessly).
      await this.#resolvectlOk(['revert', state.link]);
      await this.#resolvectlOk(['flush-caches']);
    } else {
      const current = await readFile(state.resolvConfPath).catch(() => undefined);
      const currentIsOurs = current !== undefined && sha256(current) === state.writtenSha256;
      if (!currentIsOurs) {
        notes.push(
          `${state.resolvConfPath} was changed by another program while kvpn was up; it is left as it is (the original is kept in ${state.backupPath}.old)`,
        );
        await rename(state.backupPath, `${state.backupPath}.old`).catch(() => {});
      } else {
        const original = await readFile(state.backupPath).catch((err: unknown) => {
          throw this.#systemError(`cannot read the backup ${state.backupPath}`, err);
        });
        try {
          if (state.original.kind === 'symlink') {
            await unlink(state.resolvConfPath);
            await symlink(state.original.target, state.resolvConfPath);
          } else if (state.original.kind === 'absent') {
            await unlink(state.resolvConfPath);
          } else {
            await replaceFile(state.resolvConfPath, original, state.original.mode);
          }
        } catch (err) {
          throw this.#systemError(`cannot restore ${state.resolvConfPath}`, err);
        }
        await rm(state.backupPath, { force: true });
      }
    }
    await rm(this.#statePath, { force: true });
    return { restored: true, notes };
  }

  async #readState(): Promise<State | undefined> {
    let text: string;
    try {
      text = await readFile(this.#statePath, 'utf8');
    } catch (err) {
      if (systemErrorCode(err) === 'ENOENT') return undefined;
      throw this.#systemError(`cannot read ${this.#statePath}`, err);
    }
    try {
      const state = JSON.parse(text) as State;
      if (state.version === 1 && (state.mode === 'resolved' || state.mode === 'resolv.conf')) return state;
    } catch {}
    throw new SystemDnsError('KVPN_ERR_DNS_LEFTOVER', `${this.#statePath} is not a kvpn DNS state file`, {
      remedy: `Check ${this.#resolvConf} by hand, then delete ${this.#statePath}.`,
    });
  }

  async #writeState(state: State): Promise<void> {
    await mkdir(this.#stateDir, { recursive: true, mode: 0o700 });
    await writeDurably(this.#statePath, Buffer.from(`${JSON.stringify(state, null, 2)}\n`), 0o600);
  }

  async #resolvectlRun(args: string[]): Promise<void> {
    try {
      await execFileP(this.#resolvectl, args, { timeout: RESOLVECTL_TIMEOUT_MS });
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new SystemDnsError(
        'KVPN_ERR_DNS_RESOLVECTL',
        `resolvectl ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`,
        {
          cause: err,
          remedy: 'Check that systemd-resolved is running (resolvectl status) and that kvpn runs as root.',
        },
      );
    }
  }

  async #resolvectlOk(args: string[]): Promise<boolean> {
    return execFileP(this.#resolvectl, args, { timeout: RESOLVECTL_TIMEOUT_MS }).then(
      () => true,
      () => false,
    );
  }

  #systemError(message: string, cause: unknown): SystemDnsError {
    const code = systemErrorCode(cause);
    return new SystemDnsError('KVPN_ERR_DNS_SYSTEM', `${message}: ${code ?? (cause as Error)?.message ?? cause}`, {
      cause,
      remedy:
        code === 'EACCES' || code === 'EPERM'
          ? 'kvpn must run as root to change the resolver configuration.'
          : undefined,
    });
  }
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes a file and fsyncs it. */
async function writeDurably(path: string, bytes: Buffer, mode: number): Promise<void> {
  const handle = await open(path, 'w', mode);
  try {
    await handle.writeFile(bytes);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces a file atomically (temp file + rename) with the given mode. A
 * path that is a mount point (resolv.conf bind-mounted into a container or
 * by `ip netns exec`) cannot be renamed over: it is rewritten in place.
 */
async function replaceFile(path: string, bytes: Buffer, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.kvpn-${process.pid}`);
  try {
    await writeDurably(tmp, bytes, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    const code = systemErrorCode(err);
    if (code !== 'EBUSY' && code !== 'EXDEV') throw err;
    await writeDurably(path, bytes, mode);
  }
  await chmod(path, mode);
}

/** Start time of a process (clock ticks since boot, /proc/<pid>/stat field 22): tells a reused pid apart. */
function processStart(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

function ownerAlive(pid: number, start: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (systemErrorCode(err) !== 'EPERM') return false;
  }
  const now = processStart(pid);
  return start === undefined || now === undefined || now === start;
}
