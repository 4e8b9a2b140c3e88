// Where tunnel carriers get their byte streams. In production each carrier
// is one port-forward WebSocket to the relay pod; tests may hand any Duplex
// (a local socket) instead.
import type { Duplex } from 'node:stream';
import type { KubeClient } from '../kube/client.js';
import { openPortForward } from '../kube/port-forward.js';
import { forbiddenError, isForbidden } from '../relay/pod-status.js';

export interface TunnelTransport {
  /** The kvpn session's secret the relay expects on every stream. */
  readonly token: string;
  /** Opens one byte stream to the relay's HTTP/2 port. */
  connect(signal: AbortSignal): Promise<Duplex>;
  /**
   * Called (once at a time) after a carrier failed to open; may repair the
   * far end, e.g. recreate a relay pod that is gone. Rejects if it cannot.
   */
  recover?(cause: Error, signal: AbortSignal): Promise<void>;
  /** For logs and errors: where the carriers go. */
  describe(): string;
}

/** What the tunnel needs to know about a deployed relay (RelayHandle from src/relay/deploy.ts is one). */
export interface RelayEndpoint {
  readonly namespace: string;
  /** Current pod name; may change when the relay is recreated. */
  readonly podName: string;
  readonly port: number;
  readonly token: string;
  /** Makes sure a ready relay exists (recreating it if it is gone). */
  ensure?(cause: Error, signal?: AbortSignal): Promise<void>;
}

export class PortForwardTransport implements TunnelTransport {
  readonly #client: KubeClient;
  readonly #relay: RelayEndpoint;

  constructor(client: KubeClient, relay: RelayEndpoint) {
    this.#client = client;
    this.#relay = relay;
  }

  get token(): string {
    return this.#relay.token;
  }

  async connect(signal: AbortSignal): Promise<Duplex> {
    try {
      return await openPortForward(this.#client, {
        namespace: this.#relay.namespace,
        pod: this.#relay.podName,
        port: this.#relay.port,
        signal,
      });
    } catch (err) {
      if (isForbidden(err)) throw forbiddenError(err, this.#relay.namespace, 'open a port-forward to the relay');
      throw err;
    }
  }

  async recover(cause: Error, signal: AbortSignal): Promise<void> {
    await this.#relay.ensure?.(cause, signal);
  }

  describe(): string {
    return `pod ${this.#relay.namespace}/${this.#relay.podName} port ${this.#relay.port} via ${this.#client.server.origin}`;
  }
}
