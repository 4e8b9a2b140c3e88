// The TUN device and the userspace stack on it. (Wired to src/tun/stack once it lands.)
import { KvpnError } from '../errors.js';
import type { Dialer } from '../tun/stack/dialer.js';
import type { Logger } from './log.js';
import type { TunNetwork } from './tun-network.js';

export interface StackSetupOptions {
  network: TunNetwork;
  mtu?: number | undefined;
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
  stats(): StackCounters;
  /** Stops handling packets (teardown begins). */
  stop(): void;
  /** Closes the TUN (idempotent). */
  close(): Promise<void>;
}

export async function startStack(_options: StackSetupOptions): Promise<StackSetup> {
  throw new KvpnError('KVPN_ERR_INTERNAL', 'internal', 'the stack is not wired yet');
}
