// The TUN device, portable part. Packets are raw IP (no packet-info header).
//
// Reads arrive in batches: `onPackets(packets)` is called once per wake-up
// with views into a slab that is reused on the next wake-up, so a consumer
// must finish with (or copy) every packet before returning. Writes are
// batched too; `writeBatch` queues what the kernel can't take right now
// (bounded, excess dropped and counted) and flushes when the fd is writable.
import { KvpnError } from '../errors.js';

export const DEFAULT_MTU = 65520;
/** Packets handed to JS per wake-up at most. */
export const DEFAULT_READ_BATCH = 64;

export type PacketBatchHandler = (packets: readonly Uint8Array[]) => void;

export interface TunDeviceStats {
  packetsRead: number;
  bytesRead: number;
  packetsWritten: number;
  bytesWritten: number;
  /** Packets dropped because the write queue was full. */
  writeDropped: number;
  readBatches: number;
}

export interface TunDevice {
  readonly name: string;
  readonly mtu: number;
  readonly stats: TunDeviceStats;
  /** Starts delivering batches to `handler` (replaces any earlier handler). */
  onPackets(handler: PacketBatchHandler): void;
  /** Stops delivering packets until `resume()` (backpressure). */
  pause(): void;
  resume(): void;
  /**
   * Writes packets to the kernel. Returns false when some had to be queued
   * (the caller should slow down until the 'drain' callback); packets beyond
   * the queue bound are dropped and counted in `stats.writeDropped`.
   */
  writeBatch(packets: readonly Uint8Array[]): boolean;
  onDrain(callback: () => void): void;
  /** Idempotent: stops reading and releases the fd. */
  close(): void;
}

export interface OpenTunOptions {
  /** Requested interface name (e.g. "kvpn0"); the kernel picks one if omitted. */
  name?: string;
  mtu?: number;
  /** Path of a network namespace to create the device in (tests: /run/netns/NAME). */
  netnsPath?: string;
  readBatch?: number;
}

export class TunUnavailableError extends KvpnError {
  constructor(message: string, options: { cause?: unknown; remedy?: string } = {}) {
    super('KVPN_ERR_TUN_UNAVAILABLE', 'system', message, options);
  }
}

export async function openTun(options: OpenTunOptions = {}): Promise<TunDevice> {
  if (process.platform === 'linux') {
    const { openLinuxTun } = await import('./device-linux.js');
    return openLinuxTun(options);
  }
  throw new TunUnavailableError(`TUN devices are not supported on ${process.platform} yet`, {
    remedy: 'Run kvpn on Linux; macOS (utun) support is planned.',
  });
}
