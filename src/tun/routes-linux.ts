// Linux links and routes through iproute2 with JSON output.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  DEFAULT_TX_QUEUE_PACKETS,
  type LinkSettings,
  type RouteEntry,
  RouteError,
  type RouteTable,
  type RouteTableOptions,
} from './routes.js';

const execFileP = promisify(execFile);

interface IpRoute {
  dst?: string;
  dev?: string;
  gateway?: string;
  table?: string;
  type?: string;
}

export class LinuxRouteTable implements RouteTable {
  readonly #prefix: string[];

  constructor(options: RouteTableOptions = {}) {
    this.#prefix = options.netns ? ['-n', options.netns] : [];
  }

  async #ip(args: string[]): Promise<string> {
    try {
      const { stdout } = await execFileP('ip', [...this.#prefix, ...args]);
      return stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string; code?: string | number };
      if (e.code === 'ENOENT') {
        throw new RouteError('the `ip` command (iproute2) is not installed', {
          cause: err,
          remedy: 'Install iproute2 (e.g. `apt-get install iproute2`).',
        });
      }
      throw new RouteError(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
    }
  }

  async configureLink(device: string, settings: LinkSettings): Promise<void> {
    const txQueue = settings.txQueuePackets ?? DEFAULT_TX_QUEUE_PACKETS;
    await this.#ip(['link', 'set', 'dev', device, 'mtu', String(settings.mtu), 'txqueuelen', String(txQueue)]);
    for (const address of settings.addresses) {
      const family = address.includes(':') ? '-6' : '-4';
      // IPv6 DAD would delay the address; the link is point-to-point and ours.
      const extra = family === '-6' ? ['nodad'] : [];
      await this.#ip([family, 'addr', 'replace', address, 'dev', device, ...extra]);
    }
    await this.#ip(['link', 'set', 'dev', device, 'up']);
  }

  async linkExists(device: string): Promise<boolean> {
    const out = await this.#ip(['-json', 'link', 'show']);
    return (JSON.parse(out || '[]') as { ifname?: string }[]).some((l) => l.ifname === device);
  }

  async deleteLink(device: string): Promise<void> {
    if (!(await this.linkExists(device))) return;
    await this.#ip(['link', 'delete', 'dev', device]);
  }

  async addRoute(destination: string, device: string): Promise<void> {
    const family = destination.includes(':') ? '-6' : '-4';
    await this.#ip([family, 'route', 'replace', destination, 'dev', device]);
  }

  async removeRoute(destination: string, device: string): Promise<void> {
    const family = destination.includes(':') ? '-6' : '-4';
    const present = (await this.listRoutes()).some(
      (r) => r.device === device && r.destination === normalize(destination, family === '-6' ? 6 : 4),
    );
    if (!present) return;
    await this.#ip([family, 'route', 'delete', destination, 'dev', device]);
  }

  async listRoutes(): Promise<RouteEntry[]> {
    const entries: RouteEntry[] = [];
    for (const family of [4, 6] as const) {
      const out = await this.#ip([`-${family}`, '-json', 'route', 'show', 'table', 'main']);
      for (const r of JSON.parse(out || '[]') as IpRoute[]) {
        if (!r.dst || !r.dev || (r.type && r.type !== 'unicast')) continue;
        entries.push({
          destination: normalize(r.dst, family),
          device: r.dev,
          family,
          ...(r.gateway ? { gateway: r.gateway } : {}),
          ...(r.table ? { table: r.table } : {}),
        });
      }
    }
    return entries;
  }
}

/** iproute2 prints host routes without a prefix and the default route as "default". */
function normalize(dst: string, family: 4 | 6): string {
  if (dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  if (dst.includes('/')) return dst;
  return `${dst}/${family === 4 ? 32 : 128}`;
}
