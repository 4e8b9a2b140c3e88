// `kvpn intercept`: a workload's Service port, whole or for requests that
// match a filter, served by a port on this machine (docs/intercept.md).
//
//   lease (who intercepts what; the lock) ─► journal (with the Service's selector)
//   ─► engage: decoy + router + Service redirected ─► register with the router ─► park streams
//   leave / down: unregister ─► lease deleted ─► the last one out restores the Service
import type { Logger } from '../host/log.js';
import {
  createLease,
  DEFAULT_ROUTER_IMAGE,
  deleteLease,
  engage,
  findInterceptTarget,
  InterceptError,
  LEASE_RENEW_MS,
  leaseName,
  listLeases,
  RouterEndpoint,
  releaseIfUnused,
  renewLease,
  restoreAbandoned,
} from '../intercept/index.js';
import type { KubeClient } from '../kube/client.js';
import { loadRelayBundle } from '../relay/deploy.js';
import {
  canonicalFilter,
  filterFromFlags,
  type InterceptedRequest,
  InterceptSpecError,
} from '../relay/intercept-spec.js';
import { TunnelDialer } from '../tunnel/dialer.js';
import { InterceptLink, InterceptRefusedError } from '../tunnel/intercept-link.js';
import type { JournalEntry, StateJournal } from './state-journal.js';
import type { InterceptStatus } from './types.js';

export interface InterceptRequest {
  workload: string;
  localPort: number;
  /** Service port number or name. */
  port?: string | undefined;
  service?: string | undefined;
  name?: string | undefined;
  headers?: string[] | undefined;
  headerRegexes?: string[] | undefined;
  pathPrefix?: string | undefined;
  routerImage?: string | undefined;
}

interface Intercept {
  status: Omit<InterceptStatus, 'registered' | 'routed' | 'connections'>;
  link: InterceptLink;
  entry: JournalEntry;
  lease: string;
  renew: NodeJS.Timeout;
}

export interface InterceptsOptions {
  client: KubeClient;
  journal: StateJournal;
  sessionId: string;
  owner: string;
  log: Logger;
  warn: (message: string) => void;
  /** Each request a router routed for one of this session's intercepts (for the inspection page). */
  onRequest?: (intercept: InterceptedBy, request: InterceptedRequest) => void;
}

/** Which of this session's intercepts a reported request belongs to. */
export interface InterceptedBy {
  name: string;
  localPort: number;
  service: string;
  namespace: string;
}

/** One tunnel per router, shared by this session's intercepts of that Service. */
interface RouterTunnel {
  dialer: TunnelDialer;
  users: number;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const userError = (code: `KVPN_ERR_${string}`, message: string, remedy: string): InterceptError =>
  new InterceptError(code, 'user', message, { remedy });

export class Intercepts {
  readonly #o: InterceptsOptions;
  readonly #byName = new Map<string, Intercept>();
  readonly #busy = new Set<string>();
  readonly #tunnels = new Map<string, RouterTunnel>();
  #closed = false;

  constructor(options: InterceptsOptions) {
    this.#o = options;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  list(): InterceptStatus[] {
    return [...this.#byName.values()].map((i) => this.#status(i));
  }

  #status(i: Intercept): InterceptStatus {
    const { toLaptop, toPods, failedOpen } = i.link.counters;
    return {
      ...i.status,
      registered: i.link.registered,
      routed: { toLaptop, toPods, failedOpen },
      connections: { ...i.link.connections },
    };
  }

  async intercept(request: InterceptRequest): Promise<InterceptStatus> {
    const { client, log } = this.#o;
    if (this.#closed)
      throw userError('KVPN_ERR_NO_SESSION', 'the session is stopping', 'Start a new session with `kvpn up`.');
    if (!Number.isInteger(request.localPort) || request.localPort < 1 || request.localPort > 65535)
      throw userError(
        'KVPN_ERR_INTERCEPT_PORT',
        `local port ${request.localPort} is not a port (1-65535)`,
        'Give --port LOCALPORT[:SERVICEPORT], e.g. --port 8080:80.',
      );
    let filter: ReturnType<typeof filterFromFlags>;
    try {
      filter = filterFromFlags(request);
    } catch (err) {
      if (err instanceof InterceptSpecError)
        throw userError(
          'KVPN_ERR_INTERCEPT_FILTER',
          err.message,
          'Write --header NAME=VALUE, --header-regex NAME=REGEX, --path-prefix /PATH.',
        );
      throw err;
    }
    const namespace = client.namespace;
    // Laptops that are gone left Services redirected: put those back first.
    await restoreAbandoned(client, namespace).then(
      (restored) => restored.length && log.info('restored abandoned intercepts', { services: restored }),
      (err: Error) => log.debug('could not check for abandoned intercepts', { error: err.message }),
    );
    const target = await findInterceptTarget(client, request);
    const service = target.service.name;
    const servicePort = target.servicePort.port;
    const name = request.name ?? `${service}-${servicePort}`;
    if (!NAME.test(name))
      throw userError(
        'KVPN_ERR_INTERCEPT_NAME',
        `"${name}" is not a valid intercept name`,
        'Use lowercase letters, digits and "-" (--name).',
      );
    if (this.#byName.has(name) || this.#busy.has(name))
      throw userError(
        'KVPN_ERR_INTERCEPT_EXISTS',
        `this session already has an intercept named "${name}"`,
        `Run \`kvpn leave ${name}\` first, or pick another --name.`,
      );
    const text = canonicalFilter(filter);
    // A whole intercept excludes every other on its port, and a personal one a whole one.
    for (const held of await listLeases(client, namespace, service)) {
      if (held.stale || held.servicePort !== servicePort) continue;
      if (!filter || !held.filter)
        throw new InterceptError(
          'KVPN_ERR_INTERCEPT_CONFLICT',
          'user',
          `port ${servicePort} of Service ${service} is intercepted ${held.filter ? `for "${held.filter}"` : 'whole'} by ${held.owner} since ${held.since}`,
          {
            remedy: filter
              ? 'Wait until they leave.'
              : 'Intercept only your requests with --header NAME=VALUE, or wait until they leave.',
          },
        );
    }
    this.#busy.add(name);
    try {
      return await this.#start(request, target, name, filter, text);
    } finally {
      this.#busy.delete(name);
    }
  }

  async #start(
    request: InterceptRequest,
    target: Awaited<ReturnType<typeof findInterceptTarget>>,
    name: string,
    filter: ReturnType<typeof filterFromFlags>,
    text: string,
  ): Promise<InterceptStatus> {
    const { client, journal, sessionId, owner, log } = this.#o;
    const namespace = client.namespace;
    const service = target.service.name;
    const servicePort = target.servicePort.port;
    const id = `${sessionId}-${name}`.slice(0, 63).replace(/-+$/, '');
    const since = new Date().toISOString();
    const record = {
      name,
      namespace,
      workload: target.workload,
      service,
      servicePort,
      routerPort: target.listen.port,
      filter: text,
      owner,
      sessionId,
      id,
      since,
    };
    const { held } = await createLease(client, record);
    if (held)
      throw new InterceptError(
        'KVPN_ERR_INTERCEPT_CONFLICT',
        'user',
        `${held.owner} already intercepts port ${servicePort} of Service ${service}${text ? ` for "${text}"` : ''} (since ${held.since})`,
        {
          remedy: 'Pick another header value, or wait until they leave.',
        },
      );
    const lease = leaseName(service, servicePort, text);
    const entry = journal.record({
      kind: 'intercept',
      namespace,
      service,
      lease,
      sessionId,
      selector: target.service.selector,
    });
    let link: InterceptLink | undefined;
    let tunnel: RouterTunnel | undefined;
    try {
      await engage(client, {
        namespace,
        service,
        ports: target.service.ports,
        selector: target.service.selector,
        listens: target.listens,
        image: request.routerImage ?? DEFAULT_ROUTER_IMAGE,
        bundle: loadRelayBundle(),
      });
      tunnel = await this.#tunnel(service);
      let warned = false;
      const by: InterceptedBy = { name, localPort: request.localPort, service, namespace };
      const onRequest = this.#o.onRequest;
      link = new InterceptLink(
        tunnel.dialer,
        { id, port: target.listen.port, owner, filter },
        {
          localPort: request.localPort,
          onLocalError: (err) => {
            if (warned) return;
            warned = true;
            this.#o.warn(
              `intercept ${name}: nothing answers on 127.0.0.1:${request.localPort} (${err.code ?? err.message}); intercepted requests fail until something listens there`,
            );
          },
          onUnregistered: (why) => log.info('intercept unregistered; registering again', { name, why }),
          onRegistered: () => log.debug('intercept registered', { name }),
          ...(onRequest ? { onRequest: (r: InterceptedRequest) => onRequest(by, r) } : {}),
        },
      );
      await link.start();
      if (this.#closed)
        throw userError(
          'KVPN_ERR_NO_SESSION',
          'the session stopped while intercepting',
          'Start a new session with `kvpn up`.',
        );
    } catch (err) {
      link?.close();
      if (tunnel) this.#release(service);
      await deleteLease(client, namespace, lease, sessionId).catch(() => false);
      await releaseIfUnused(client, namespace, service, target.service.selector).catch(() => undefined);
      journal.forget(entry);
      if (err instanceof InterceptRefusedError)
        throw new InterceptError(
          'KVPN_ERR_INTERCEPT_CONFLICT',
          'user',
          `the router refused the intercept: ${err.message}`,
          {
            remedy: 'Pick another header value, or wait until they leave.',
          },
        );
      throw err;
    }
    const renew = setInterval(() => {
      renewLease(client, namespace, lease).catch((err: Error) =>
        log.warn('could not renew the intercept lease', { name, error: err.message }),
      );
    }, LEASE_RENEW_MS);
    renew.unref();
    const intercept: Intercept = {
      status: {
        name,
        namespace,
        workload: target.workload,
        service,
        servicePort,
        localPort: request.localPort,
        filter: text,
        since,
      },
      link,
      entry,
      lease,
      renew,
    };
    this.#byName.set(name, intercept);
    log.info('intercepting', { name, service, servicePort, filter: text, localPort: request.localPort });
    return this.#status(intercept);
  }

  async #tunnel(service: string): Promise<RouterTunnel> {
    let tunnel = this.#tunnels.get(service);
    if (!tunnel) {
      const endpoint = await RouterEndpoint.find(this.#o.client, service);
      tunnel = { dialer: new TunnelDialer({ client: this.#o.client, relay: endpoint, carriers: 1 }), users: 0 };
      this.#tunnels.set(service, tunnel);
    }
    tunnel.users++;
    return tunnel;
  }

  #release(service: string): void {
    const tunnel = this.#tunnels.get(service);
    if (!tunnel || --tunnel.users > 0) return;
    this.#tunnels.delete(service);
    tunnel.dialer.destroy();
  }

  /** Ends one intercept: unregisters, deletes its lease, restores the Service if it was the last. */
  async leave(name: string): Promise<InterceptStatus> {
    const i = this.#byName.get(name);
    if (!i)
      throw userError(
        'KVPN_ERR_INTERCEPT_UNKNOWN',
        `this session has no intercept or exposure named "${name}"`,
        'See `kvpn status` for their names.',
      );
    this.#byName.delete(name);
    clearInterval(i.renew);
    i.link.close();
    this.#release(i.status.service);
    const { client, journal, sessionId, log } = this.#o;
    await deleteLease(client, i.status.namespace, i.lease, sessionId);
    const change = i.entry.change as { selector: Record<string, string> };
    const outcome = await releaseIfUnused(client, i.status.namespace, i.status.service, change.selector);
    journal.forget(i.entry);
    log.info('intercept ended', { name, service: i.status.service, outcome });
    return this.#status(i);
  }

  /** Stops every link (the cluster side goes with the journal's undo); nothing new after this. */
  close(): void {
    this.#closed = true;
    for (const i of this.#byName.values()) {
      clearInterval(i.renew);
      i.link.close();
    }
    this.#byName.clear();
    for (const t of this.#tunnels.values()) t.dialer.destroy();
    this.#tunnels.clear();
  }
}

/** The control request's params, as the CLI sends them. */
export function parseInterceptRequest(params: Record<string, unknown> | undefined): InterceptRequest {
  const p = params ?? {};
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : undefined);
  return {
    workload: String(p.workload ?? ''),
    localPort: Number(p.localPort),
    port: text(p.port),
    service: text(p.service),
    name: text(p.name),
    headers: list(p.headers),
    headerRegexes: list(p.headerRegexes),
    pathPrefix: text(p.pathPrefix),
    routerImage: text(p.routerImage),
  };
}
