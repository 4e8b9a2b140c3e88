// `kvpn expose`: a Service of the session's namespace whose connections
// arrive at a port on this machine. Each exposure is a Service selecting the
// relay pod (exposed-service.ts), journaled before it is created, plus an
// InboundForwarder that parks streams on the relay's listener port.
import { KvpnError } from '../errors.js';
import type { Logger } from '../host/log.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { INBOUND_PORT_MAX, INBOUND_PORT_MIN } from '../relay/protocol.js';
import type { TunnelDialer } from '../tunnel/dialer.js';
import { InboundForwarder } from '../tunnel/inbound.js';
import { exposedService, removeExposedService, servicePath } from './exposed-service.js';
import type { JournalEntry, StateJournal } from './state-journal.js';
import type { ExposureStatus } from './types.js';

export interface ExposeRequest {
  localPort: number;
  /** The Service port; default: localPort. */
  port?: number | undefined;
  /** The Service name; default: kvpn-LOCALPORT. */
  name?: string | undefined;
  protocol?: string | undefined;
}

interface Exposure {
  status: Omit<ExposureStatus, 'connections'>;
  forwarder: InboundForwarder;
  entry: JournalEntry;
  warnedLocal: boolean;
}

/** How long `expose` waits for the relay to confirm its listener (the tunnel may be reconnecting). */
const LISTEN_TIMEOUT_MS = 15_000;
const ENDPOINT_TIMEOUT_MS = 10_000;
const ENDPOINT_POLL_MS = 200;

/** True if `promise` settled within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// RFC 1035 label, as Kubernetes requires of Service names.
const SERVICE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

export class ExposeError extends KvpnError {}

function badPort(what: string, value: unknown): ExposeError {
  return new ExposeError('KVPN_ERR_EXPOSE_PORT', 'user', `${what} ${String(value)} is not a port (1-65535)`, {
    remedy: 'Give LOCALPORT[:PORT], e.g. `kvpn expose 8080` or `kvpn expose 3000:80`.',
  });
}

function isPort(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;
}

export interface ExposuresOptions {
  client: KubeClient;
  journal: StateJournal;
  dialer: TunnelDialer;
  sessionId: string;
  owner: string;
  log: Logger;
  warn: (message: string) => void;
}

export class Exposures {
  readonly #o: ExposuresOptions;
  readonly #byName = new Map<string, Exposure>();
  /** Names being created or removed (a second request for one waits for no one: it is refused). */
  readonly #busy = new Set<string>();
  #closed = false;

  constructor(options: ExposuresOptions) {
    this.#o = options;
  }

  list(): ExposureStatus[] {
    return [...this.#byName.values()].map((e) => ({ ...e.status, connections: { ...e.forwarder.stats } }));
  }

  async expose(request: ExposeRequest): Promise<ExposureStatus> {
    const { client, journal, sessionId, owner, log } = this.#o;
    if (this.#closed)
      throw new ExposeError('KVPN_ERR_NO_SESSION', 'user', 'the session is stopping: nothing more can be exposed', {
        remedy: 'Start a new session with `kvpn up`, then expose again.',
      });
    const protocol = (request.protocol ?? 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp')
      throw new ExposeError('KVPN_ERR_EXPOSE_PROTOCOL', 'user', `kvpn expose carries tcp or udp, not "${protocol}"`, {
        remedy: 'Use --protocol tcp (the default) or --protocol udp.',
      });
    if (!isPort(request.localPort)) throw badPort('local port', request.localPort);
    const port = request.port ?? request.localPort;
    if (!isPort(port)) throw badPort('Service port', port);
    const name = request.name ?? `kvpn-${request.localPort}`;
    if (!SERVICE_NAME.test(name))
      throw new ExposeError('KVPN_ERR_EXPOSE_NAME', 'user', `"${name}" is not a valid Service name`, {
        remedy: 'Use at most 63 lowercase letters, digits and "-", starting with a letter (RFC 1035).',
      });
    if (this.#byName.has(name) || this.#busy.has(name))
      throw new ExposeError('KVPN_ERR_EXPOSE_EXISTS', 'user', `this session already exposes "${name}"`, {
        remedy: `Run \`kvpn leave ${name}\` first, or pick another --name.`,
      });
    const relayPort = this.#freeRelayPort();
    const namespace = client.namespace;
    this.#busy.add(name);
    const entry = journal.record({ kind: 'exposed-service', namespace, name, sessionId });
    try {
      await client.request('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/services`, {
        body: exposedService({
          namespace,
          name,
          sessionId,
          owner,
          port,
          targetPort: relayPort,
          localPort: request.localPort,
          protocol,
        }),
      });
    } catch (err) {
      // Not created: nothing of ours to undo (and a Service by that name is someone else's).
      journal.forget(entry);
      this.#busy.delete(name);
      if (err instanceof KubeApiError && err.status === 409)
        throw new ExposeError(
          'KVPN_ERR_EXPOSE_EXISTS',
          'user',
          `a Service named "${name}" already exists in namespace "${namespace}"`,
          { remedy: 'Pick another name with --name; kvpn never replaces a Service it did not create.', cause: err },
        );
      throw err;
    }
    let lastAcceptError: Error | undefined;
    const exposure: Exposure = {
      status: {
        name,
        namespace,
        address: `${name}.${namespace}.svc:${port}`,
        port,
        protocol,
        localPort: request.localPort,
        relayPort,
        since: new Date().toISOString(),
      },
      entry,
      warnedLocal: false,
      forwarder: new InboundForwarder(this.#o.dialer, {
        port: relayPort,
        protocol,
        localPort: request.localPort,
        onLocalError: (err) => {
          if (exposure.warnedLocal) return;
          exposure.warnedLocal = true;
          this.#o.warn(
            `exposed ${name}: nothing answers on 127.0.0.1:${request.localPort} (${err.code ?? err.message}); cluster clients are reset until something listens there`,
          );
        },
        onAcceptError: (err) => {
          lastAcceptError = err;
          log.debug('inbound park failed; retrying', { name, error: err.message });
        },
      }),
    };
    if (this.#closed) {
      // The session began stopping while the Service was created: the journal's undo removes it.
      throw new ExposeError('KVPN_ERR_NO_SESSION', 'user', 'the session stopped while exposing', {
        remedy: 'Start a new session with `kvpn up`, then expose again.',
      });
    }
    exposure.forwarder.start();
    this.#byName.set(name, exposure);
    this.#busy.delete(name);
    // Return once a cluster client would be served: the relay listens, the Service lists the relay.
    const listening = await within(exposure.forwarder.listening, LISTEN_TIMEOUT_MS);
    if (!listening) {
      await this.leave(name).catch(() => {});
      throw new ExposeError(
        'KVPN_ERR_EXPOSE_RELAY',
        'cluster',
        `the relay did not open port ${relayPort} for "${name}" within ${LISTEN_TIMEOUT_MS / 1000} s${lastAcceptError ? ` (${lastAcceptError.message})` : ''}`,
        { remedy: 'Check `kvpn status` (is the tunnel up?) and `kvpn logs`, then expose again.' },
      );
    }
    await this.#awaitEndpoint(namespace, name);
    log.info('exposed', { name, namespace, port, localPort: request.localPort, relayPort });
    return { ...exposure.status, connections: { ...exposure.forwarder.stats } };
  }

  /** Ends one exposure: stops forwarding, deletes its Service. */
  async leave(name: string): Promise<ExposureStatus> {
    const exposure = this.#byName.get(name);
    if (!exposure)
      throw new ExposeError('KVPN_ERR_EXPOSE_UNKNOWN', 'user', `this session exposes nothing named "${name}"`, {
        remedy: `See \`kvpn status\` for what it exposes${this.#byName.size ? `: ${[...this.#byName.keys()].join(', ')}` : ''}.`,
      });
    this.#byName.delete(name);
    exposure.forwarder.close();
    const { namespace } = exposure.status;
    await removeExposedService(this.#o.client, namespace, name, this.#o.sessionId);
    this.#o.journal.forget(exposure.entry);
    this.#o.log.info('exposure ended', { name, path: servicePath(namespace, name) });
    return { ...exposure.status, connections: { ...exposure.forwarder.stats } };
  }

  /** Stops every forwarder (the Services go with the journal's undo); no new exposure after this. */
  close(): void {
    this.#closed = true;
    for (const e of this.#byName.values()) e.forwarder.close();
    this.#byName.clear();
  }

  /**
   * Waits (bounded) until the Service's EndpointSlice lists a ready endpoint: before that,
   * kube-proxy refuses its clients. Without the right to list EndpointSlices it does not wait.
   */
  async #awaitEndpoint(namespace: string, name: string): Promise<void> {
    const path = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`;
    const deadline = Date.now() + ENDPOINT_TIMEOUT_MS;
    while (Date.now() < deadline) {
      let slices: { items?: { endpoints?: { conditions?: { ready?: boolean } }[] }[] };
      try {
        slices = await this.#o.client.request('GET', path, {
          query: { labelSelector: `kubernetes.io/service-name=${name}` },
        });
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 403) {
          this.#o.log.info('not allowed to list EndpointSlices: not waiting for the Service to list the relay', {
            name,
          });
          return;
        }
        throw err;
      }
      if ((slices.items ?? []).some((s) => (s.endpoints ?? []).some((e) => e.conditions?.ready !== false))) return;
      await new Promise((resolve) => setTimeout(resolve, ENDPOINT_POLL_MS));
    }
    this.#o.warn(
      `exposed ${name}: the cluster has not listed the relay as its endpoint after ${ENDPOINT_TIMEOUT_MS / 1000} s`,
    );
  }

  #freeRelayPort(): number {
    const used = new Set([...this.#byName.values()].map((e) => e.status.relayPort));
    for (let p = INBOUND_PORT_MIN; p <= INBOUND_PORT_MAX; p++) if (!used.has(p)) return p;
    throw new ExposeError('KVPN_ERR_EXPOSE_PORT', 'user', 'this session exposes too many ports');
  }
}

/** An expose request as the control socket carries it (untrusted JSON). */
export function parseExposeRequest(params: Record<string, unknown> | undefined): ExposeRequest {
  const p = params ?? {};
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    localPort: Number(p.localPort),
    port: p.port === undefined ? undefined : Number(p.port),
    name: text(p.name),
    protocol: text(p.protocol),
  };
}
