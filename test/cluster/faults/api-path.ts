// Impairments between the laptop and the API server, inside the laptop
// namespace: latency (new connections are redirected through a DelayProxy
// by an nftables rule) and random loss (nftables numgen drops).
import { run } from '../network/shell.js';
import { DelayProxy } from './delay-proxy.js';

const TABLE = 'kvpn-faults';
const PROXY_SOURCE = '127.0.0.2';

export class ApiPathFaults {
  #apiPort: number;
  #proxy: DelayProxy | undefined;
  #latencyMs = 0;
  #lossPercent = 0;

  constructor(apiPort: number) {
    this.#apiPort = apiPort;
  }

  get latencyMs(): number {
    return this.#latencyMs;
  }
  get lossPercent(): number {
    return this.#lossPercent;
  }

  async setLatency(ms: number): Promise<void> {
    if (ms > 0 && !this.#proxy) {
      this.#proxy = new DelayProxy('127.0.0.1', this.#apiPort, PROXY_SOURCE);
      await this.#proxy.start();
    }
    if (this.#proxy) this.#proxy.latencyMs = ms;
    this.#latencyMs = ms;
    await this.#apply();
  }

  async setLoss(percent: number): Promise<void> {
    this.#lossPercent = Math.max(0, Math.min(100, Math.round(percent)));
    await this.#apply();
  }

  async #apply(): Promise<void> {
    const ports = this.#proxy ? `{ ${this.#apiPort}, ${this.#proxy.port} }` : String(this.#apiPort);
    const lines = [`add table ip ${TABLE}`, `delete table ip ${TABLE}`, `table ip ${TABLE} {`];
    if (this.#latencyMs > 0 && this.#proxy) {
      lines.push(
        '  chain api-redirect {',
        '    type nat hook output priority -100; policy accept;',
        `    ip daddr 127.0.0.1 ip saddr != ${PROXY_SOURCE} tcp dport ${this.#apiPort} redirect to :${this.#proxy.port}`,
        '  }',
      );
    }
    if (this.#lossPercent > 0) {
      const drop = this.#lossPercent >= 100 ? 'drop' : `numgen random mod 100 < ${this.#lossPercent} drop`;
      lines.push(
        '  chain api-loss {',
        '    type filter hook input priority filter; policy accept;',
        `    tcp dport ${ports} ${drop}`,
        `    tcp sport ${ports} ${drop}`,
        '  }',
      );
    }
    lines.push('}');
    await run('nft', ['-f', '-'], `${lines.join('\n')}\n`);
  }

  close(): void {
    this.#proxy?.close();
    this.#proxy = undefined;
  }
}
