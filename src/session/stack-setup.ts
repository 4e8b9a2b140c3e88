// The TUN device and the userspace stack on it: packets the kernel routes
// into kvpnN become connections handed to the session's dialer (DNS server
// for the in-TUN DNS address, the tunnel for everything else).
import { openTun, type TunDevice } from '../tun/device.js';
import type { Dialer } from '../tun/stack/dialer.js';
import { Stack } from '../tun/stack/index.js';
import type { Logger } from './log.js';
import type { TunNetwork } from './tun-network.js';

export interface StackSetupOptions {
  network: TunNetwork;
  mtu?: number | undefined;
  /** Open the TUN in this network namespace (in-process tests). */
  netnsPath?: string | undefined;
  dialer: Dialer;
  log: Logger;
}

export interface StackCounters {
  tcpOpen: number;
  tcpTotal: number;
  udpOpen: number;
  udpTotal: number;
}

export interface StackSetup {
  readonly mtu: number;
  readonly device: TunDevice;
  readonly stack: Stack;
  stats(): StackCounters;
  /** Stops handling packets (teardown begins); the TUN stays open. */
  stop(): void;
  /** Closes the TUN: the link disappears with it. Idempotent. */
  close(): Promise<void>;
}

export async function startStack(options: StackSetupOptions): Promise<StackSetup> {
  const device = await openTun({
    name: options.network.device,
    ...(options.mtu ? { mtu: options.mtu } : {}),
    ...(options.netnsPath ? { netnsPath: options.netnsPath } : {}),
  });
  const stack = new Stack(device, options.dialer, { addresses: [options.network.dnsAddress] });
  stack.start();
  options.log.info('TUN open', { device: device.name, mtu: device.mtu });
  return {
    mtu: device.mtu,
    device,
    stack,
    stats() {
      const s = stack.stats;
      return {
        tcpOpen: s.tcp.connectionsOpen,
        tcpTotal: s.tcp.connectionsTotal,
        udpOpen: s.udp.flowsOpen,
        udpTotal: s.udp.flowsTotal,
      };
    },
    stop() {
      stack.close();
    },
    async close() {
      stack.close();
      device.close();
    },
  };
}
