// Linux resolver integration. With systemd-resolved in use: per-link DNS
// on the TUN link and routing domains (~cluster.local plus the namespace
// search domains) through resolvectl, so other names keep using the
// user's resolvers untouched; undone by reverting the link. Without it:
// /etc/resolv.conf is replaced by one that names our server first, and
// put back on restore from the backup in the state directory: the original
// bytes and a description of them (a file and its mode, a symlink and its
// target, or nothing; and a hash of what kvpn wrote in its place), both on
// disk before the file changes. Who made the change and whether they still
// run is not ours to know: the caller keeps the ResolverRecord.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, open, readFile, readlink, rename, rm, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { systemErrorCode } from '../errors.js';
import { SystemDnsError } from './errors.js';
import { KVPN_HEADER, parseResolvConf, renderKvpnResolvConf } from './resolv-conf.js';
import type {
  AppliedDns,
  ResolverRecord,
  RestoreResult,
  SystemDns,
  SystemDnsConfig,
  SystemDnsMode,
  SystemDnsOptions,
} from './system-dns.js';

const execFileP = promisify(execFile);

export const BACKUP_FILE = 'resolv.conf.kvpn-backup';
/** Beside the backup: what it was and what kvpn wrote in its place. */
export const BACKUP_INFO_FILE = 'resolv.conf.kvpn-backup.json';
const RESOLVED_STUB = '/run/systemd/resolve/stub-resolv.conf';
const RESOLVECTL_TIMEOUT_MS = 5000;

type Original = { kind: 'file'; mode: number } | { kind: 'symlink'; target: string } | { kind: 'absent' };

interface BackupInfo {
  version: 1;
  original: Original;
  writtenSha256: string;
}

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
  #mode: 'auto' | SystemDnsMode;
  readonly #stub: string;
  readonly #resolvectl: string;
  readonly #replaceSymlink: boolean;
  /** This instance has applied once: a backup found by a second apply() is its own, not a leftover. */
  #applied = false;

  constructor(options: SystemDnsOptions) {
    this.#stateDir = options.stateDir;
    this.#resolvConf = options.resolvConfPath ?? '/etc/resolv.conf';
    this.#mode = options.mode ?? 'auto';
    this.#stub = options.stubResolvConfPath ?? RESOLVED_STUB;
    this.#resolvectl = options.resolvectl ?? 'resolvectl';
    this.#replaceSymlink = options.replaceSymlink ?? false;
  }

  get #backupPath(): string {
    return join(this.#stateDir, BACKUP_FILE);
  }

  /** 'auto' is decided on the first call and kept, so record() and apply() cannot disagree. */
  async detect(): Promise<SystemDnsMode> {
    if (this.#mode === 'auto') this.#mode = (await this.#resolvedInUse()) ? 'resolved' : 'resolvconf';
    return this.#mode;
  }

  async record(linkName: string): Promise<ResolverRecord> {
    return {
      mode: await this.detect(),
      device: linkName,
      dnsStateDir: this.#stateDir,
      resolvConfPath: resolve(this.#resolvConf),
    };
  }

  async apply(config: SystemDnsConfig): Promise<AppliedDns> {
    const notes = await this.#repairLeftover();
    this.#applied = true;
    const mode = await this.detect();
    if (mode === 'resolved') {
      await this.#applyResolved(config);
      return { mode, upstreams: [], notes };
    }
    return this.#applyResolvConf(config, notes);
  }

  async restore(record: ResolverRecord): Promise<RestoreResult> {
    if (record.mode === 'resolved') {
      // A link that is gone took its settings with it: revert fails, and there was nothing to undo.
      const reverted = await this.#resolvectlOk(['revert', record.device]);
      await this.#resolvectlOk(['flush-caches']);
      return { restored: reverted, notes: [] };
    }
    return this.#restoreResolvConf(record.resolvConfPath, record.dnsStateDir);
  }

  /**
   * A backup already in our state directory was never put back: the
   * session that made it ended without cleaning up, and its record is lost
   * (with it, `kvpn down` or the next start would have restored it). The
   * directory is ours alone, so its owner is gone. Our header in resolv.conf
   * with no backup here: say so rather than guess.
   */
  async #repairLeftover(): Promise<string[]> {
    const info = await this.#readBackupInfo(this.#stateDir);
    if (info) {
      const result = await this.#restoreResolvConf(resolve(this.#resolvConf), this.#stateDir);
      if (!this.#applied)
        result.notes.unshift('repaired the DNS settings left by a kvpn session that ended without cleaning up');
      return result.notes;
    }
    const text = await readFile(this.#resolvConf, 'utf8').catch(() => '');
    if (!text.startsWith(KVPN_HEADER)) return [];
    throw new SystemDnsError(
      'KVPN_ERR_DNS_LEFTOVER',
      `${this.#resolvConf} was written by kvpn but its backup is not in ${this.#stateDir}`,
      {
        remedy: existsSync(this.#backupPath)
          ? `Copy ${this.#backupPath} over ${this.#resolvConf}.`
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
    const backupPath = this.#backupPath;
    const text = renderKvpnResolvConf(parsed, {
      server: config.serverAddress,
      searchDomains: config.searchDomains,
      backupPath,
    });
    // Write-ahead: the backup and what it is are on disk before the file changes.
    await mkdir(this.#stateDir, { recursive: true, mode: 0o700 });
    await writeDurably(backupPath, bytes, 0o600);
    const backupInfo: BackupInfo = { version: 1, original, writtenSha256: sha256(Buffer.from(text)) };
    await writeDurably(
      join(this.#stateDir, BACKUP_INFO_FILE),
      Buffer.from(`${JSON.stringify(backupInfo, null, 2)}\n`),
      0o600,
    );
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
    return { mode: 'resolvconf', upstreams, notes };
  }

  /** Puts resolv.conf back from the backup in `dir`; nothing there means nothing to undo. */
  async #restoreResolvConf(path: string, dir: string): Promise<RestoreResult> {
    const info = await this.#readBackupInfo(dir);
    if (!info) return { restored: false, notes: [] };
    const notes: string[] = [];
    const backupPath = join(dir, BACKUP_FILE);
    const current = await readFile(path).catch(() => undefined);
    const currentIsOurs = current !== undefined && sha256(current) === info.writtenSha256;
    if (!currentIsOurs) {
      notes.push(
        `${path} was changed by another program while kvpn was up; it is left as it is (the original is kept in ${backupPath}.old)`,
      );
      await rename(backupPath, `${backupPath}.old`).catch(() => {});
    } else {
      const original = await readFile(backupPath).catch((err: unknown) => {
        throw this.#systemError(`cannot read the backup ${backupPath}`, err);
      });
      try {
        if (info.original.kind === 'symlink') {
          await unlink(path);
          await symlink(info.original.target, path);
        } else if (info.original.kind === 'absent') {
          await unlink(path);
        } else {
          await replaceFile(path, original, info.original.mode);
        }
      } catch (err) {
        throw this.#systemError(`cannot restore ${path}`, err);
      }
      await rm(backupPath, { force: true });
    }
    // Last: until it is gone, a failed restore can be retried.
    await rm(join(dir, BACKUP_INFO_FILE), { force: true });
    return { restored: true, notes };
  }

  async #readBackupInfo(dir: string): Promise<BackupInfo | undefined> {
    const path = join(dir, BACKUP_INFO_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (systemErrorCode(err) === 'ENOENT') return undefined;
      throw this.#systemError(`cannot read ${path}`, err);
    }
    try {
      const info = JSON.parse(text) as BackupInfo;
      if (info.version === 1 && typeof info.writtenSha256 === 'string' && info.original) return info;
    } catch {}
    throw new SystemDnsError('KVPN_ERR_DNS_LEFTOVER', `${path} does not describe a kvpn resolv.conf backup`, {
      remedy: `Check ${this.#resolvConf} by hand (the original may be in ${join(dir, BACKUP_FILE)}), then delete ${path}.`,
    });
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
