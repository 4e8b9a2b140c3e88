// A real peer for the stack: the Linux kernel. A client namespace gets a
// TUN whose routes for 10.200.0.0/16 and fd00:c8::/64 lead into a Stack
// running in this test process; the DirectDialer maps those addresses to
// servers on 127.0.0.1 / ::1 here. Clients run inside the namespace.
import type { Test } from 'tap';
import { openTun, type TunDevice } from '../../../src/tun/device.js';
import type { Dialer, Endpoint } from '../../../src/tun/stack/dialer.js';
import { Stack, type StackOptions } from '../../../src/tun/stack/stack.js';
import { DirectDialer } from '../../helpers/direct-dialer.js';
import { NetNs } from '../../helpers/netns.js';

export const SERVICE_V4 = '10.200.0.5';
export const SERVICE_V6 = 'fd00:c8::5';
/** Dialing these fails as unreachable (the map has no route). */
export const UNREACHABLE_V4 = '10.200.9.9';
export const UNREACHABLE_V6 = 'fd00:c8::99';
/** The stack's own address (answers ping). */
export const STACK_V4 = '10.200.0.1';
export const STACK_V6 = 'fd00:c8::1';
export const CLIENT_V4 = '10.201.0.1';
export const CLIENT_V6 = 'fd00:c9::1';

export interface KernelWorld {
  ns: NetNs;
  device: TunDevice;
  stack: Stack;
  dialer: Dialer;
}

export interface WorldOptions {
  mtu?: number;
  stack?: StackOptions;
  /** Wraps the device before the stack sees it (impairment). */
  wrap?: (device: TunDevice) => TunDevice;
  /** Extra mapping; by default every 10.200/16 and fd00:c8::/64 address goes to loopback. */
  map?: (d: Endpoint) => Endpoint | null;
  /** Replaces the DirectDialer. */
  dialer?: Dialer;
}

export function defaultMap(d: Endpoint): Endpoint | null {
  if (d.address === UNREACHABLE_V4 || d.address === UNREACHABLE_V6) return null;
  if (d.address.startsWith('10.200.')) return { address: '127.0.0.1', port: d.port };
  // IPv6 on the TUN side; the servers listen on IPv4 loopback.
  if (d.address.startsWith('fd00:c8:')) return { address: '127.0.0.1', port: d.port };
  return null;
}

export async function kernelWorld(t: Test, options: WorldOptions = {}): Promise<KernelWorld> {
  const mtu = options.mtu ?? 65520;
  const ns = await NetNs.create(t, 'kst');
  const raw = await openTun({ name: 'kvpn0', mtu, netnsPath: ns.path });
  const device = options.wrap ? options.wrap(raw) : raw;
  const dialer = options.dialer ?? new DirectDialer({ map: options.map ?? defaultMap, connectTimeoutMs: 3000 });
  const stack = new Stack(device, dialer, { addresses: [STACK_V4, STACK_V6], ...options.stack });
  stack.start();
  t.teardown(() => {
    stack.close();
    device.close();
  });
  await ns.ip('link', 'set', raw.name, 'mtu', String(mtu), 'txqueuelen', '10000', 'up');
  await ns.ip('addr', 'add', `${CLIENT_V4}/32`, 'dev', raw.name);
  await ns.ip('-6', 'addr', 'add', `${CLIENT_V6}/128`, 'dev', raw.name, 'nodad');
  await ns.ip('route', 'add', '10.200.0.0/16', 'dev', raw.name, 'src', CLIENT_V4);
  await ns.ip('-6', 'route', 'add', 'fd00:c8::/64', 'dev', raw.name, 'src', CLIENT_V6);
  return { ns, device, stack, dialer };
}
