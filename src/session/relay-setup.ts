// The relay pod and the tunnel to it. (Wired to src/kube/relay.ts once it lands.)
import { KvpnError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import type { TunnelDialer } from '../proxy/tunnel-dialer.js';
import type { Logger } from './log.js';
import type { StateJournal } from './state-journal.js';

export interface RelaySetupOptions {
  client: KubeClient;
  journal: StateJournal;
  image?: string | undefined;
  sessionId: string;
  log: Logger;
  signal?: AbortSignal | undefined;
  onRecreated?: (pod: string) => void;
}

export interface RelaySetup {
  readonly dialer: TunnelDialer;
  readonly podName: string;
  readonly image: string;
  readonly recreated: number;
  stopRecreating(): void;
  close(): void;
}

export async function startRelay(_options: RelaySetupOptions): Promise<RelaySetup> {
  throw new KvpnError('KVPN_ERR_INTERNAL', 'internal', 'relay deployment is not wired yet');
}
