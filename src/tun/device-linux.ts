// Linux TUN device on top of our N-API addon (src/tun/native/tun.c).
// One slab per device receives each batch of packets read on a wake-up; the
// views handed to the handler are only valid during that call. Writes go
// straight to the fd; what the kernel can't take now waits in a bounded
// queue flushed on the next writable wake-up.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemErrorCode } from '../errors.js';
import {
  DEFAULT_MTU,
  DEFAULT_READ_BATCH,
  type OpenTunOptions,
  type PacketBatchHandler,
  type TunDevice,
  type TunDeviceStats,
  TunUnavailableError,
} from './device.js';

/** Packets queued toward the kernel at most before new ones are dropped. */
export const WRITE_QUEUE_MAX_PACKETS = 4096;

type Handle = object;
interface TunAddon {
  open(name: string | null, netnsPath: string | null): [Handle, string];
  startReading(h: Handle, slab: Uint8Array, lengths: Uint32Array, mtu: number, onRead: (count: number) => void): void;
  pauseReading(h: Handle): void;
  resumeReading(h: Handle): void;
  writeBatch(h: Handle, packets: readonly Uint8Array[], start: number): number;
  onWritable(h: Handle, cb: () => void): void;
  close(h: Handle): void;
  /** malloc_trim(0) where glibc has it; false elsewhere (see src/daemon/native-heap.ts). */
  trimNativeHeap(): boolean;
}

let addon: TunAddon | undefined;

/**
 * Loads the addon through node-gyp-build, whether we run from src/ or dist/src/:
 * a source build (build/Release, what `npm ci` makes in a checkout) first, else
 * the prebuilt for this platform that the npm package ships in prebuilds/.
 */
export function loadAddon(): TunAddon {
  if (addon) return addon;
  const here = dirname(fileURLToPath(import.meta.url));
  const root = [join(here, '../..'), join(here, '../../..')].find((dir) => existsSync(join(dir, 'binding.gyp')));
  const require = createRequire(import.meta.url);
  let found: string;
  try {
    if (!root) throw new Error(`no binding.gyp above ${here}`);
    found = (require('node-gyp-build') as { resolve(dir: string): string }).resolve(root);
  } catch (err) {
    // Neither a prebuilt nor a source build: the install-time build failed or was
    // skipped (--ignore-scripts). Name the build tools it lacks, if any.
    const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
    const missing = ['cc', 'make', 'python3'].filter((tool) => !dirs.some((dir) => existsSync(join(dir, tool))));
    const platform = `${process.platform}-${process.arch}`;
    throw new TunUnavailableError(
      `the kvpn TUN addon is not built (no prebuilt for ${platform} in prebuilds/, and build/Release/kvpn_tun.node is missing)`,
      {
        cause: err,
        remedy:
          missing.length > 0
            ? `Building it from source needs ${missing.join(', ')} on PATH (a C compiler, make, Python 3): install them, then run \`npm rebuild kvpn\`.`
            : 'Build it from source: `npm rebuild kvpn` (or `npm ci` in a checkout).',
      },
    );
  }
  try {
    addon = require(found) as TunAddon;
  } catch (err) {
    throw new TunUnavailableError(`the kvpn TUN addon failed to load: ${(err as Error).message}`, {
      cause: err,
      remedy: 'Rebuild it from source for this machine: `npm rebuild kvpn --build-from-source`.',
    });
  }
  return addon;
}

export function openLinuxTun(options: OpenTunOptions = {}): TunDevice {
  const mtu = options.mtu ?? DEFAULT_MTU;
  if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65535) {
    throw new TunUnavailableError(`invalid MTU ${mtu}`, { remedy: 'Use an MTU between 1280 and 65535.' });
  }
  const native = loadAddon();
  let opened: [Handle, string];
  try {
    opened = native.open(options.name ?? null, options.netnsPath ?? null);
  } catch (err) {
    throw explainOpenError(err);
  }
  return new LinuxTunDevice(native, opened[0], opened[1], mtu, options.readBatch ?? DEFAULT_READ_BATCH);
}

function explainOpenError(err: unknown): TunUnavailableError {
  const code = systemErrorCode(err);
  const detail = (err as Error).message;
  const syscall = (err as { syscall?: string }).syscall ?? '';
  if (code === 'KVPN_ERR_TUN_ARGUMENT') {
    return new TunUnavailableError(`invalid TUN settings: ${detail}`, {
      cause: err,
      remedy: 'Use an interface name of at most 15 characters.',
    });
  }
  if (syscall.includes('netns') || syscall === 'setns') {
    return new TunUnavailableError(`cannot enter the network namespace (${detail})`, { cause: err });
  }
  if (code === 'EPERM' || code === 'EACCES') {
    return new TunUnavailableError(`not allowed to create a TUN device (${detail})`, {
      cause: err,
      remedy: 'Run kvpn as root (kvpn re-runs itself with sudo) or grant CAP_NET_ADMIN.',
    });
  }
  if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO') {
    return new TunUnavailableError(`/dev/net/tun is not available (${detail})`, {
      cause: err,
      remedy: 'Load the tun kernel module (`modprobe tun`) or, in a container, pass --device /dev/net/tun.',
    });
  }
  if (code === 'EBUSY' || code === 'EEXIST') {
    return new TunUnavailableError(`the TUN interface name is already in use (${detail})`, {
      cause: err,
      remedy: 'Is another kvpn session running? Check `kvpn status`, or pick another name.',
    });
  }
  return new TunUnavailableError(`cannot open the TUN device: ${detail}`, { cause: err });
}

class LinuxTunDevice implements TunDevice {
  readonly name: string;
  readonly mtu: number;
  readonly stats: TunDeviceStats = {
    packetsRead: 0,
    bytesRead: 0,
    packetsWritten: 0,
    bytesWritten: 0,
    writeDropped: 0,
    readBatches: 0,
  };
  readonly #native: TunAddon;
  readonly #handle: Handle;
  readonly #slab: Uint8Array;
  readonly #lengths: Uint32Array;
  #handler: PacketBatchHandler | undefined;
  #reading = false;
  #paused = false;
  #closed = false;
  #queue: Uint8Array[] = [];
  #waitingWritable = false;
  #drainCallbacks: (() => void)[] = [];

  constructor(native: TunAddon, handle: Handle, name: string, mtu: number, batch: number) {
    this.#native = native;
    this.#handle = handle;
    this.name = name;
    this.mtu = mtu;
    this.#slab = new Uint8Array(mtu * batch);
    this.#lengths = new Uint32Array(batch);
  }

  onPackets(handler: PacketBatchHandler): void {
    this.#handler = handler;
    if (this.#reading || this.#closed) return;
    this.#reading = true;
    this.#native.startReading(this.#handle, this.#slab, this.#lengths, this.mtu, this.#nativeOnRead);
    if (this.#paused) this.#native.pauseReading(this.#handle);
  }

  #nativeOnRead = (count: number): void => {
    const packets: Uint8Array[] = new Array(count);
    let offset = 0;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const len = this.#lengths[i] ?? 0;
      packets[i] = this.#slab.subarray(offset, offset + len);
      offset += len;
      bytes += len;
    }
    this.stats.packetsRead += count;
    this.stats.bytesRead += bytes;
    this.stats.readBatches++;
    this.#handler?.(packets);
  };

  pause(): void {
    this.#paused = true;
    if (this.#reading && !this.#closed) this.#native.pauseReading(this.#handle);
  }

  resume(): void {
    this.#paused = false;
    if (this.#reading && !this.#closed) this.#native.resumeReading(this.#handle);
  }

  writeBatch(packets: readonly Uint8Array[]): boolean {
    if (this.#closed) {
      this.stats.writeDropped += packets.length;
      return false;
    }
    if (this.#queue.length > 0) return this.#enqueue(packets, 0);
    const written = this.#native.writeBatch(this.#handle, packets, 0);
    this.#count(packets, 0, written);
    if (written === packets.length) return true;
    return this.#enqueue(packets, written);
  }

  #count(packets: readonly Uint8Array[], from: number, n: number): void {
    this.stats.packetsWritten += n;
    for (let i = from; i < from + n; i++) this.stats.bytesWritten += packets[i]?.length ?? 0;
  }

  #enqueue(packets: readonly Uint8Array[], from: number): boolean {
    for (let i = from; i < packets.length; i++) {
      const p = packets[i];
      if (!p) continue;
      if (this.#queue.length >= WRITE_QUEUE_MAX_PACKETS) this.stats.writeDropped++;
      else this.#queue.push(p);
    }
    if (!this.#waitingWritable) {
      this.#waitingWritable = true;
      this.#native.onWritable(this.#handle, this.#nativeOnWritable);
    }
    return false;
  }

  #nativeOnWritable = (): void => {
    this.#waitingWritable = false;
    if (this.#closed) return;
    const queue = this.#queue;
    const written = this.#native.writeBatch(this.#handle, queue, 0);
    this.#count(queue, 0, written);
    this.#queue = written === queue.length ? [] : queue.slice(written);
    if (this.#queue.length > 0) {
      this.#waitingWritable = true;
      this.#native.onWritable(this.#handle, this.#nativeOnWritable);
      return;
    }
    const callbacks = this.#drainCallbacks;
    this.#drainCallbacks = [];
    for (const cb of callbacks) cb();
  };

  onDrain(callback: () => void): void {
    if (this.#queue.length === 0) queueMicrotask(callback);
    else this.#drainCallbacks.push(callback);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.stats.writeDropped += this.#queue.length;
    this.#queue = [];
    this.#drainCallbacks = [];
    this.#native.close(this.#handle);
  }
}
