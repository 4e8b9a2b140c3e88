// A session: one laptop connected to one cluster context.
//
//   start:  kubeconfig (lock, credentials) ─► TUN device ─► relay ∥ CIDR discovery ─► DNS server,
//           stack, link and routes ─► resolver ─► verify ─► control socket
//   run:    pod watch and cluster DNS answers add routes for new ranges; the tunnel recreates
//           a lost relay; status() reads every component's counters
//   close:  stop watchers and the tunnel, then undo the journal newest-first
//           (resolver, routes, link, relay objects, files) — the same code that
//           `kvpn down` runs after a crash
//
// Only the tunnel Role of docs/rbac.md is required: each optional read RBAC
// refuses degrades one feature (degradations.ts) instead of failing the start.
//
// Every change to the OS or the cluster is journaled (state-journal.ts)
// before it is made. A failed or aborted start undoes what it did before
// rethrowing. The daemon (src/daemon/main.ts) and `up --foreground` are thin
// shells around this class; tests run it in-process with `netns` set.
import { mkdirSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { ControlServer } from '../control/server.js';
import { KvpnError } from '../errors.js';
import type { InvokingUser } from '../host/credentials.js';
import type { Logger } from '../host/log.js';
import { type SessionPaths, sessionId, sessionPaths } from '../host/paths.js';
import { processStartTime } from '../host/process-info.js';
import { Inspection } from '../inspect/index.js';
import type { KubeClient } from '../kube/client.js';
import { isCidr } from '../net/cidr.js';
import type { TunDevice } from '../tun/device.js';
import { type RouteTable, routeTable } from '../tun/routes.js';
import { takeLock } from './cleanup.js';
import { wellKnownServices } from './cluster-services.js';
import { degradations } from './degradations.js';
import { completeServiceRange, discoverRanges, type Ranges, RangeWatcher, rangesInferred } from './discovery.js';
import { restoreResolver } from './dns-restore.js';
import { type DnsSetup, startDns } from './dns-setup.js';
import { Exposures, parseExposeRequest } from './exposures.js';
import { inspectedEnvironment } from './inspected-environment.js';
import { Intercepts, parseInterceptRequest } from './intercepts.js';
import { LearnedRoutes } from './learned-routes.js';
import { Mounts, parseMountRequest } from './mounts.js';
import { type RelaySetup, startRelay } from './relay-setup.js';
import { hostPrefix } from './route-plan.js';
import { apiServerAddresses, connectAsUser, loadKubeconfig } from './session-client.js';
import { SessionRoutes } from './session-routes.js';
import { buildStatus, buildSummary } from './session-status.js';
import { openDevice, type StackSetup, startStack } from './stack-setup.js';
import type { StateJournal } from './state-journal.js';
import { isDnsAddress, type TunNetwork } from './tun-network.js';
import type { Degradation, ProgressEvent, SessionOptions, SessionStatus, SessionSummary, StepName } from './types.js';
import { sweepRelay, type UndoDeps, type UndoOutcome, undoJournal } from './undo.js';
import { verifyTraffic } from './verify.js';

export interface SessionHooks {
  /** With attach(): the session points it at its log file once it knows it. */
  log: Logger & { attach?(path: string): void };
  /** A crashed earlier session for the same context was cleaned up first. */
  onPreviousCleaned?: (outcomes: UndoOutcome[]) => void;
  user?: InvokingUser | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: (event: ProgressEvent) => void;
}

export const MAX_WARNINGS = 20;
/** How long the summary waits for the DNS watches to sync or be refused (they usually have by then). */
export const DNS_SETTLE_MAX_MS = 3000;

export class StartAbortedError extends KvpnError {
  constructor(reason: unknown) {
    super('KVPN_ERR_INTERRUPTED', 'user', `start aborted: ${(reason as Error)?.message ?? String(reason)}`, {
      remedy: 'Run `kvpn up` again.',
    });
  }
}

export class Session {
  readonly #options: SessionOptions;
  readonly #hooks: SessionHooks;
  readonly #log: Logger;
  readonly #startedAt = Date.now();
  readonly #warnings: string[] = [];
  #paths!: SessionPaths;
  #journal: StateJournal | undefined;
  #client: KubeClient | undefined;
  #table!: RouteTable;
  #routes: SessionRoutes | undefined;
  #learned: LearnedRoutes | undefined;
  #relay: RelaySetup | undefined;
  #device: TunDevice | undefined;
  #stack: StackSetup | undefined;
  #dns: DnsSetup | undefined;
  #control: ControlServer | undefined;
  #exposures: Exposures | undefined;
  #intercepts: Intercepts | undefined;
  #mounts: Mounts | undefined;
  #inspection: Inspection | undefined;
  #rangeWatcher: RangeWatcher | undefined;
  #network: TunNetwork | undefined;
  #ranges: Ranges | undefined;
  #summary: SessionSummary | undefined;
  #closing: Promise<UndoOutcome[]> | undefined;
  #resolveClosed!: (outcomes: UndoOutcome[]) => void;
  /** Resolves with the cleanup outcomes once the session has ended, however it ended. */
  readonly closed: Promise<UndoOutcome[]>;

  private constructor(options: SessionOptions, hooks: SessionHooks) {
    this.#options = options;
    this.#hooks = hooks;
    this.#log = hooks.log;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  static async start(options: SessionOptions, hooks: SessionHooks): Promise<Session> {
    const session = new Session(options, hooks);
    try {
      await session.#start();
      return session;
    } catch (err) {
      session.#log.error('start failed; undoing what was done', { error: err as Error });
      await session.close();
      if (hooks.signal?.aborted && !(err instanceof KvpnError && err.code === 'KVPN_ERR_INTERRUPTED')) {
        throw new StartAbortedError(hooks.signal.reason);
      }
      throw err;
    }
  }

  #checkAborted(): void {
    if (this.#hooks.signal?.aborted) throw new StartAbortedError(this.#hooks.signal.reason);
  }

  #progress(step: StepName, detail: string): void {
    this.#checkAborted();
    const event = { step, detail, elapsedMs: Date.now() - this.#startedAt };
    this.#log.info(`step ${step}: ${detail}`, { elapsedMs: event.elapsedMs });
    this.#hooks.onProgress?.(event);
  }

  warn(message: string): void {
    this.#log.warn(message);
    this.#warnings.push(`${new Date().toISOString()} ${message}`);
    if (this.#warnings.length > MAX_WARNINGS) this.#warnings.shift();
  }

  get journal(): StateJournal | undefined {
    return this.#journal;
  }

  async #start(): Promise<void> {
    const o = this.#options;
    const log = this.#log;
    this.#table = await routeTable(o.netns ? { netns: o.netns } : {});

    // 1. kubeconfig: read the files, once for the whole start (no credentials yet), to name the
    // session and take its lock.
    const loaded = loadKubeconfig({ kubeconfig: o.kubeconfig, context: o.context, namespace: o.namespace });
    const plain = loaded.client;
    const dirs = { stateDir: o.stateDir, runtimeDir: o.runtimeDir };
    this.#paths = sessionPaths(dirs, sessionId(plain.contextName));
    this.#hooks.log.attach?.(this.#paths.logFile);
    const journal = await takeLock(dirs, this.#paths.stateFile, loaded, this.#hooks, {
      id: this.#paths.id,
      context: plain.contextName,
      namespace: plain.namespace,
      cluster: plain.clusterName,
      server: plain.server.origin,
      kubeconfig: o.kubeconfig,
      netns: o.netns,
      owner: o.owner,
      socket: this.#paths.socket,
      logFile: this.#paths.logFile,
      createdAt: new Date(this.#startedAt).toISOString(),
      ownerPid: process.pid,
      ownerStart: processStartTime(process.pid),
    });
    this.#journal = journal;
    // So that `down` can stop this process if it ever hangs.
    journal.record({
      kind: 'process',
      pid: process.pid,
      startTime: processStartTime(process.pid),
      what: o.journalProcess ? 'kvpn daemon' : 'kvpn session process',
    });
    journal.record({ kind: 'file', path: this.#paths.sessionDir, what: 'session directory' });
    mkdirSync(this.#paths.sessionDir, { recursive: true, mode: 0o700 });
    const client = await connectAsUser(loaded, this.#hooks.user);
    this.#client = client;
    this.#progress(
      'kubeconfig',
      `context ${client.contextName}, cluster ${client.clusterName}, namespace ${client.namespace}`,
    );

    // The TUN first: on a machine without one, nothing is deployed in the cluster.
    const routes = new SessionRoutes({
      table: this.#table,
      journal,
      neverProxy: o.neverProxy,
      allowConflicting: o.allowConflictingRoutes,
      warn: (m) => this.warn(m),
    });
    this.#routes = routes;
    const network = await routes.pickNetwork(dirs, this.#paths.id, o.tunName);
    journal.record({ kind: 'link', device: network.device });
    const device = await openDevice({
      network,
      mtu: o.mtu,
      netnsPath: o.netns ? `/run/netns/${o.netns}` : undefined,
      log,
    });
    this.#device = device;
    this.#network = network;

    // 2 ∥ 3. The relay starts while the ranges are discovered.
    const relayStarting = startRelay({
      client,
      journal,
      image: o.relayImage,
      sessionId: this.#paths.id,
      log,
      signal: this.#hooks.signal,
      owner: this.#hooks.user ? `${this.#hooks.user.name}@${hostname()}` : undefined,
      onRecreated: (pod) => this.warn(`relay pod was gone; recreated as ${pod}`),
      carrier: o.carrier,
    });
    const discovering = discoverRanges(client, log);
    const lookingUp = apiServerAddresses(client.server.hostname);
    // Don't leave a rejection unobserved while the other is awaited.
    discovering.catch(() => {});
    lookingUp.catch(() => {});
    const relay = await relayStarting;
    this.#relay = relay;
    this.#progress('relay', `pod ${relay.podName} in ${client.namespace}`);

    // Asked of the relay's resolver only if the API would not tell.
    const wellKnown = wellKnownServices((name) => relay.dialer.resolve(name));
    this.#ranges = await completeServiceRange(await discovering, wellKnown, log);
    const planned = await routes.plan({
      service: this.#ranges.service.cidrs,
      pod: this.#ranges.pod.cidrs,
      alsoProxy: o.alsoProxy.filter(isCidr),
      apiServer: (await lookingUp).map(hostPrefix),
    });
    this.#progress(
      'cidrs',
      `services ${this.#ranges.service.cidrs.join(' ') || 'none'} (${this.#ranges.service.source}), pods ${this.#ranges.pod.cidrs.join(' ') || 'none'} (${this.#ranges.pod.source})`,
    );

    // 4. DNS server, stack on the TUN, link and routes.
    const learned = new LearnedRoutes({
      routes,
      onRouted: (cidr, source) => this.#ranges?.[source].cidrs.push(cidr),
      warn: (m) => this.warn(m),
      log,
    });
    this.#learned = learned;
    const inspection = o.noUi
      ? undefined
      : new Inspection({ namespace: client.namespace, zone: () => this.#dns?.zone() });
    this.#inspection = inspection;
    this.#dns = await startDns({
      client,
      dialer: this.#relay.dialer,
      mode: o.dns,
      dnsAddress: network.dnsAddress,
      dnsAddress6: network.dnsAddress6,
      device: network.device,
      namespace: client.namespace,
      serviceCidrs: this.#ranges.service.cidrs,
      podCidrs: this.#ranges.pod.cidrs,
      stateDir: o.stateDir,
      sessionId: this.#paths.id,
      resolvConfPath: o.resolvConfPath,
      replaceSymlink: o.dnsReplaceSymlink,
      log,
      warn: (m) => this.warn(m),
      wellKnown,
      // Guessed ranges grow as the cluster DNS names what lies outside them.
      onClusterAddresses: rangesInferred(this.#ranges) ? (found) => learned.learn(found) : undefined,
      observer: inspection?.dnsObserver,
    });
    const dialer = inspection ? inspection.wrap(this.#dns.dialer, isDnsAddress(network)) : this.#dns.dialer;
    this.#stack = startStack(device, dialer, network);
    await routes.configureLink(device.mtu);
    for (const route of planned) await routes.add(route);
    this.#progress(
      'tun',
      `${network.device} (${network.localAddress})${routes.ipv6 ? `, IPv6 ${network.localAddress6}` : ''}, ${routes.routed.length} route${routes.routed.length === 1 ? '' : 's'}`,
    );

    // 5. The machine's resolver.
    await this.#dns.apply(journal);
    this.#progress('dns', this.#dns.mode === 'off' ? 'off' : `${this.#dns.mode}, server ${network.dnsAddress}`);

    // --also-proxy host names resolve in the cluster, through the relay.
    for (const host of o.alsoProxy.filter((h) => !isCidr(h))) {
      const addresses = await this.#relay.dialer.resolve(host).catch((err: Error) => {
        this.warn(`--also-proxy ${host}: cannot resolve it in the cluster (${err.message})`);
        return [] as string[];
      });
      for (const address of addresses) await routes.addHost(address);
    }

    // 6. Traffic flows end to end.
    const verified = await verifyTraffic({
      client,
      dialer: this.#relay.dialer,
      dnsAddress: this.#dns.mode === 'off' ? undefined : network.dnsAddress,
      clusterDomain: this.#dns.clusterDomain,
      viaKernel: !o.netns,
      signal: this.#hooks.signal,
      wellKnown,
    });
    this.#progress('verify', verified);

    this.#rangeWatcher = new RangeWatcher(client, {
      known: () => routes.routed.map((r) => r.cidr),
      onNewRange: (cidr, pod) => void learned.add(cidr, 'pod', `pod ${pod}`),
      log,
    });
    this.#rangeWatcher.start(this.#ranges.pod.source !== 'node-podcidrs');

    const owner = this.#hooks.user ? `${this.#hooks.user.name}@${hostname()}` : `${userInfo().username}@${hostname()}`;
    const inbound = { client, journal, sessionId: this.#paths.id, owner, log, warn: (m: string) => this.warn(m) };
    const exposures = new Exposures({ ...inbound, dialer: relay.dialer });
    this.#exposures = exposures;
    const intercepts = new Intercepts({
      ...inbound,
      ...(inspection ? { onRequest: inspection.requestObserver } : {}),
    });
    this.#intercepts = intercepts;
    const user = this.#hooks.user ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    const mounts = new Mounts({
      client,
      journal,
      sessionId: this.#paths.id,
      user: { uid: user.uid, gid: user.gid },
      stagingRoot: this.#paths.sessionDir,
      log,
    });
    this.#mounts = mounts;

    journal.record({ kind: 'file', path: this.#paths.socket, what: 'control socket' });
    this.#control = await ControlServer.listen({
      path: this.#paths.socket,
      owner: o.owner,
      handlers: {
        hello: () => ({ id: this.#paths.id, pid: process.pid }),
        status: () => this.status(),
        shutdown: () => this.close(),
        expose: (request) => exposures.expose(parseExposeRequest(request.params)),
        intercept: (request) => intercepts.intercept(parseInterceptRequest(request.params)),
        mount: (request) => mounts.mount(parseMountRequest(request.params)),
        unmount: (request) => mounts.unmount(String(request.params?.name ?? '')),
        leave: (request) => {
          const name = String(request.params?.name ?? '');
          return intercepts.has(name) ? intercepts.leave(name) : exposures.leave(name);
        },
      },
    });
    await inspection
      ?.serve({
        port: o.uiPort,
        status: () => this.status(),
        environment: (query) => inspectedEnvironment(client, query),
        onError: (err) => log.warn('inspection page', { error: err.message }),
      })
      .catch((err: Error) => this.warn(`inspection page not started: ${err.message}`));
    await this.#dns.settled(DNS_SETTLE_MAX_MS);
    this.#summary = this.#buildSummary();
    for (const d of this.#summary.degradations) log.warn(`degraded: ${d.what}`, { restoreWith: d.restore });
    log.info('session up', { startupMs: this.#summary.startupMs });
  }

  #buildSummary(): SessionSummary {
    return buildSummary({
      paths: this.#paths,
      client: this.#client as KubeClient,
      network: this.#network,
      routes: this.#routes,
      dns: this.#dns,
      relay: this.#relay,
      startedAt: this.#startedAt,
      now: Date.now(),
      pid: process.pid,
      degradations: this.#degradations(),
      ui: this.#inspection?.server
        ? { url: this.#inspection.server.url, port: this.#inspection.server.port }
        : undefined,
    });
  }

  /** Optional reads RBAC refused, as of now (a DNS watch may be refused later). */
  #degradations(): Degradation[] {
    return degradations({
      ranges: this.#ranges,
      forbiddenWatches: this.#dns?.forbiddenWatches() ?? {},
      namespace: this.#client?.namespace ?? '',
      clusterDomain: this.#dns?.clusterDomain,
    });
  }

  summary(): SessionSummary {
    return this.#summary ?? this.#buildSummary();
  }

  status(): SessionStatus {
    return buildStatus({
      summary: this.summary(),
      routes: this.#routes?.routed ?? [],
      startedAt: this.#startedAt,
      now: Date.now(),
      closing: this.#closing !== undefined,
      relay: this.#relay,
      stack: this.#stack,
      dns: this.#dns,
      ranges: this.#ranges,
      warnings: this.#warnings,
      degradations: this.#degradations(),
      exposures: this.#exposures?.list() ?? [],
      intercepts: this.#intercepts?.list() ?? [],
      mounts: this.#mounts?.list() ?? [],
    });
  }

  /** Graceful and idempotent: undoes everything; resolves with what was undone. */
  close(): Promise<UndoOutcome[]> {
    this.#closing ??= this.#teardown();
    return this.#closing;
  }

  async #teardown(): Promise<UndoOutcome[]> {
    this.#log.info('closing session');
    this.#rangeWatcher?.close();
    this.#learned?.close();
    const journal = this.#journal;
    // Our own process entry is not ours to undo: we are exiting.
    for (const e of journal?.entries ?? [])
      if (e.change.kind === 'process' && e.change.pid === process.pid) journal?.forget(e);
    await this.#inspection?.close();
    this.#exposures?.close();
    this.#intercepts?.close();
    await this.#mounts?.close().catch((err: Error) => this.#log.warn('closing mounts failed', { error: err.message }));
    this.#relay?.close();
    this.#stack?.stop();
    let outcomes: UndoOutcome[] = [];
    if (journal) {
      const deps: UndoDeps = {
        routes: this.#table,
        kube: async () => {
          if (!this.#client) throw new KvpnError('KVPN_ERR_INTERNAL', 'internal', 'no Kubernetes client');
          return this.#client;
        },
        restoreDns: (change) => (this.#dns ? this.#dns.restore() : restoreResolver(change, this.#log)),
        linkOwnedElsewhere: () => false,
        releaseLink: async () => {
          this.#stack?.stop();
          this.#device?.close();
        },
      };
      const relay = this.#relay;
      if (relay) deps.removeRelay = () => relay.remove();
      // Without a handle, deployRelay failed and removed what it had made; the label sweep
      // below double-checks, except where we may not even look (then nothing was made).
      else {
        const client = this.#client;
        deps.removeRelay = async (change) =>
          client ? sweepRelay(client, change).catch(notAllowedMeansNothing) : false;
      }
      outcomes = await undoJournal(journal, deps).catch((err: Error) => {
        this.#log.error('cleanup failed', { error: err });
        return [];
      });
      for (const o of outcomes) this.#log.info(`cleanup: ${o.result} ${o.what}`, o.detail ? { detail: o.detail } : {});
    }
    this.#stack?.stop();
    this.#device?.close();
    this.#relay?.close();
    this.#dns?.close();
    this.#client?.close();
    // Reply to a "shutdown" request first, then stop listening.
    setImmediate(() => void this.#control?.close());
    this.#resolveClosed(outcomes);
    return outcomes;
  }
}

function notAllowedMeansNothing(err: unknown): boolean {
  if (err instanceof KvpnError && (err.code === 'KVPN_ERR_RELAY_FORBIDDEN' || err.code === 'KVPN_ERR_API_FORBIDDEN'))
    return false;
  throw err;
}
