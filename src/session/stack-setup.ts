// The TUN device and the userspace stack on it: packets the kernel routes
// into kvpnN become connections handed to the session's dialer (DNS server
// for the in-TUN DNS addresses, the tunnel for everything else).

import type { Logger } from '../host/log.js';
import { openTun, type TunDevice } from '../tun/device.js';
import type { Dialer } from '../tun/stack/index.js';
import { Stack } from '../tun/stack/index.js';
import { dnsAddresses, type TunNetwork } from './tun-network.js';

export interface DeviceOptions {
  network: TunNetwork;
  mtu?: number | undefined;
  /** Open the TUN in this network namespace (in-process tests). */
  netnsPath?: string | undefined;
  log: Logger;
}

export interface StackCounters {
  tcpOpen: number;
  tcpTotal: number;
  udpOpen: number;
  udpTotal: number;
}

export interface StackSetup {
  readonly stack: Stack;
  stats(): StackCounters;
  /** Resets every connection and stops handling packets; the TUN stays open. */
  stop(): void;
}

/** Opens the TUN early, so "no TUN here" fails before anything is deployed. */
export async function openDevice(options: DeviceOptions): Promise<TunDevice> {
  const device = await openTun({
    name: options.network.device,
    ...(options.mtu ? { mtu: options.mtu } : {}),
    ...(options.netnsPath ? { netnsPath: options.netnsPath } : {}),
  });
  options.log.info('TUN open', { device: device.name, mtu: device.mtu });
  return device;
}

export function startStack(device: TunDevice, dialer: Dialer, network: TunNetwork): StackSetup {
  // Its own addresses answer ping (ICMP and ICMPv6 echo): the DNS server's two.
  const stack = new Stack(device, dialer, { addresses: dnsAddresses(network) });
  stack.start();
  return {
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
  };
}
