// An in-memory TunDevice for tests that need no kernel: `inject()` plays
// the kernel sending packets, `written` collects what the stack wrote.
import type { PacketBatchHandler, TunDevice, TunDeviceStats } from '../../../src/tun/device.js';

export class MemoryDevice implements TunDevice {
  readonly name = 'mem0';
  readonly mtu: number;
  readonly stats: TunDeviceStats = {
    packetsRead: 0,
    bytesRead: 0,
    packetsWritten: 0,
    bytesWritten: 0,
    writeDropped: 0,
    readBatches: 0,
  };
  readonly written: Uint8Array[] = [];
  #handler: PacketBatchHandler | null = null;

  constructor(mtu = 65520) {
    this.mtu = mtu;
  }

  onPackets(handler: PacketBatchHandler): void {
    this.#handler = handler;
  }
  /** Delivers one batch, as the addon would after a wake-up. */
  inject(packets: readonly Uint8Array[]): void {
    this.stats.readBatches++;
    this.stats.packetsRead += packets.length;
    this.#handler?.(packets);
  }
  pause(): void {}
  resume(): void {}
  writeBatch(packets: readonly Uint8Array[]): boolean {
    this.stats.packetsWritten += packets.length;
    for (const p of packets) {
      this.stats.bytesWritten += p.length;
      this.written.push(p);
    }
    return true;
  }
  onDrain(): void {}
  close(): void {
    this.#handler = null;
  }
}
