// The DNS server: the I/O edge around the pure answering core. Every query
// (UDP datagram, TCP frame, or a flow handed over by the DNS dialer) goes
// through handle(): parse → decide → reply now, or forward and reply later.
// Malformed input is answered FORMERR or dropped, and counted; nothing a
// client sends can throw out of here.
//
// Local answers are not limited: on a laptop every query comes from one
// address (the host, or systemd-resolved), so a per-client rate limit would
// cap the whole machine. What costs something is a forwarded query (a
// tunnel round trip to the cluster DNS, or a query to the upstream
// servers): those are bounded in flight per destination, and a query over
// the bound is dropped and counted (the client retries after its timeout,
// instead of a SERVFAIL sending it to the next server in resolv.conf).

import dgram from 'node:dgram';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../tun/stack/index.js';
import { type AnswerPolicy, type ClusterAddress, clusterAddressesOf, decide } from './answer.js';
import {
  answerRecordsOf,
  decodeMessage,
  type EncodedRecords,
  encodeQuestion,
  headerRcode,
  parseQuery,
  type Query,
  RCODE,
} from './codec.js';
import { ForwardError } from './errors.js';
import { NamespaceProbe } from './namespace-probe.js';
import { buildResponse, errorResponse, headerOnly, relayResponse, type Transport } from './response.js';
import { DnsTcpConnection, type DnsTcpConnectionOptions } from './tcp-connection.js';
import { FORWARD_MAX_IN_FLIGHT, type Forwarder } from './tcp-forwarder.js';
import { UdpForwarder } from './udp-forwarder.js';
import type { ZoneSnapshot } from './zone.js';

/** Where the current zone comes from (ClusterRecords, or a fixed snapshot in tests). */
export interface RecordSource {
  readonly zone: ZoneSnapshot;
}

export interface DnsServerOptions {
  records: RecordSource;
  /** The cluster DNS through the tunnel (see createClusterForwarder). Forwarders given here are closed by close(). */
  clusterForwarder?: Forwarder;
  /** The machine's original DNS servers, for names outside the cluster (resolv.conf mode only). */
  upstream?: Forwarder;
  /** Reverse zones of the cluster CIDRs (reverseZonesOf): unknown PTR names there go to the cluster DNS. */
  clusterReverseZones?: string[];
  /**
   * Sees the addresses the cluster DNS answers for names in the zone; a
   * promise returned holds the reply until it settles (the session routes a
   * new range first, so the client's first packet already goes the right way).
   */
  onClusterAddresses?: (found: ClusterAddress[]) => Promise<void> | undefined;
  /** Most forwarded queries waiting at once, per destination (cluster DNS, upstream); beyond, dropped. */
  maxPendingForwards?: number;
  /** Sees each parsed query once it is answered or dropped (the inspection page); costs nothing when unset. */
  observer?: ((event: DnsQueryEvent) => void) | undefined;
  tcp?: DnsTcpConnectionOptions & { maxConnections?: number };
}

export interface DnsStats {
  queries: number;
  answeredLocally: number;
  nxdomainLocally: number;
  forwardedCluster: number;
  forwardedUpstream: number;
  chased: number;
  /** Questions to the cluster DNS: is this label a namespace we cannot watch? */
  namespaceProbes: number;
  forwardTimeouts: number;
  forwardFailures: number;
  formerr: number;
  notimp: number;
  refused: number;
  servfail: number;
  truncated: number;
  droppedMalformed: number;
  /** Forwards over maxPendingForwards, or refused by a forwarder that has too many in flight. */
  droppedOverloaded: number;
  tcpConnections: number;
}

/** One answered (or dropped) query, for the inspection page. */
export interface DnsQueryEvent {
  /** Date.now() when the query arrived. */
  at: number;
  name: string;
  type: number;
  transport: Transport;
  /** Who answered: the zone here, the cluster DNS, the machine's servers; probe and chase end in one of those. */
  how: 'local' | 'cluster' | 'upstream' | 'probe' | 'chase';
  /** Undefined: dropped (overloaded), the client will retry. */
  response: Buffer | undefined;
  latencyMs: number;
}

/** The cluster forwarder pipelines this many on its one tunnel stream; the server's bound matches it. */
export const MAX_PENDING_FORWARDS = FORWARD_MAX_IN_FLIGHT;

type Destination = 'cluster' | 'upstream';

export class DnsServer {
  readonly #records: RecordSource;
  readonly #cluster: Forwarder | undefined;
  readonly #probe: NamespaceProbe | undefined;
  readonly #onClusterAddresses: DnsServerOptions['onClusterAddresses'];
  readonly #observer: DnsServerOptions['observer'];
  #upstream: Forwarder | undefined;
  readonly #policy: AnswerPolicy;
  readonly #maxPending: number;
  readonly #tcpOptions: DnsTcpConnectionOptions & { maxConnections?: number };
  readonly #stats: DnsStats = {
    queries: 0,
    answeredLocally: 0,
    nxdomainLocally: 0,
    forwardedCluster: 0,
    forwardedUpstream: 0,
    chased: 0,
    namespaceProbes: 0,
    forwardTimeouts: 0,
    forwardFailures: 0,
    formerr: 0,
    notimp: 0,
    refused: 0,
    servfail: 0,
    truncated: 0,
    droppedMalformed: 0,
    droppedOverloaded: 0,
    tcpConnections: 0,
  };
  readonly #pending: Record<Destination, number> = { cluster: 0, upstream: 0 };
  readonly #udpSockets = new Set<dgram.Socket>();
  readonly #tcpServers = new Set<net.Server>();
  readonly #connections = new Set<Duplex>();
  #closed = false;

  constructor(options: DnsServerOptions) {
    this.#records = options.records;
    this.#cluster = options.clusterForwarder;
    this.#probe = options.clusterForwarder ? new NamespaceProbe(options.clusterForwarder) : undefined;
    this.#upstream = options.upstream;
    this.#onClusterAddresses = options.onClusterAddresses;
    this.#observer = options.observer;
    this.#policy = {
      clusterForwarding: Boolean(options.clusterForwarder),
      upstreamForwarding: Boolean(options.upstream),
      clusterReverseZones: options.clusterReverseZones ?? [],
    };
    this.#maxPending = options.maxPendingForwards ?? MAX_PENDING_FORWARDS;
    this.#tcpOptions = options.tcp ?? {};
    this.handle = this.handle.bind(this);
  }

  /** A snapshot of the counters. */
  stats(): DnsStats {
    return { ...this.#stats };
  }

  /** Names outside the cluster go to these servers from now on (resolv.conf mode); [] to stop. */
  setUpstreams(servers: Endpoint[]): void {
    this.setUpstream(servers.length ? new UdpForwarder({ servers }) : undefined);
  }

  setUpstream(upstream: Forwarder | undefined): void {
    this.#upstream?.close();
    this.#upstream = upstream;
    this.#policy.upstreamForwarding = Boolean(upstream);
  }

  /**
   * Answers one DNS message. `reply` is called exactly once, synchronously
   * for local answers, with the response or undefined (dropped). Who asked
   * is passed along but not used: nothing is limited per client.
   */
  handle(
    message: Uint8Array,
    _client: Endpoint,
    transport: Transport,
    reply: (response: Buffer | undefined) => void,
  ): void {
    const s = this.#stats;
    s.queries++;
    if (this.#closed) {
      reply(undefined);
      return;
    }
    const parsed = parseQuery(message);
    if (!parsed.ok) {
      if (parsed.drop) {
        s.droppedMalformed++;
        reply(undefined);
        return;
      }
      if (parsed.rcode === RCODE.FORMERR) s.formerr++;
      else s.notimp++;
      reply(headerOnly(parsed.id, parsed.flags, parsed.rcode));
      return;
    }
    const query = parsed.query;
    const outcome = decide(query, this.#records.zone, this.#policy, transport);
    if (this.#observer)
      reply = this.#observed(
        query,
        transport,
        outcome.kind === 'reply' ? 'local' : outcome.kind === 'forward' ? outcome.to : outcome.kind,
        reply,
      );
    switch (outcome.kind) {
      case 'reply':
        this.#count(outcome.response, outcome.rcode, outcome.local);
        reply(outcome.response);
        return;
      case 'forward':
        if (outcome.to === 'cluster') s.forwardedCluster++;
        else s.forwardedUpstream++;
        this.#forward(outcome.to, query, transport, reply);
        return;
      case 'probe':
        this.#probeThenForward(query, outcome.namespace, transport, reply);
        return;
      case 'chase':
        s.chased++;
        this.#chase(query, outcome.chain, outcome.target, transport, reply);
        return;
    }
  }

  #observed(
    query: Query,
    transport: Transport,
    how: DnsQueryEvent['how'],
    reply: (response: Buffer | undefined) => void,
  ): (response: Buffer | undefined) => void {
    const at = Date.now();
    const started = performance.now();
    return (response) => {
      reply(response);
      try {
        this.#observer?.({
          at,
          name: query.name,
          type: query.type,
          transport,
          how,
          response,
          latencyMs: performance.now() - started,
        });
      } catch {
        // The page's bookkeeping must never cost a query its answer.
      }
    };
  }

  /** Serves one DNS-over-TCP connection as a Duplex (for the DNS dialer, or piped to a socket). */
  openTcpConnection(client: Endpoint): Duplex {
    const connection = new DnsTcpConnection(this.handle, client, this.#tcpOptions);
    this.#stats.tcpConnections++;
    this.#connections.add(connection);
    connection.on('close', () => this.#connections.delete(connection));
    if (this.#closed) connection.destroy();
    return connection;
  }

  /** Listens for UDP queries on a normal socket (tests, benchmarks, 127.0.0.1 setups). */
  async listenUdp(address: string, port = 0): Promise<AddressInfo> {
    const socket = dgram.createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
    socket.on('error', () => {});
    socket.on('message', (msg, rinfo) => {
      this.handle(msg, { address: rinfo.address, port: rinfo.port }, 'udp', (response) => {
        if (response && !this.#closed) socket.send(response, rinfo.port, rinfo.address);
      });
    });
    socket.bind(port, address);
    await once(socket, 'listening');
    this.#udpSockets.add(socket);
    return socket.address();
  }

  /** Listens for DNS over TCP on a normal socket. */
  async listenTcp(address: string, port = 0): Promise<AddressInfo> {
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      const connection = this.openTcpConnection({
        address: socket.remoteAddress ?? '',
        port: socket.remotePort ?? 0,
      });
      socket.on('error', () => connection.destroy());
      connection.on('error', () => socket.destroy());
      connection.on('close', () => socket.destroy());
      socket.pipe(connection).pipe(socket);
    });
    server.maxConnections = this.#tcpOptions.maxConnections ?? 512;
    server.listen(port, address);
    await once(server, 'listening');
    this.#tcpServers.add(server);
    return server.address() as AddressInfo;
  }

  /** Stops listening, ends TCP connections and closes the forwarders. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of this.#udpSockets) socket.close();
    this.#udpSockets.clear();
    const closing = [...this.#tcpServers].map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const connection of this.#connections) connection.destroy();
    this.#tcpServers.clear();
    this.#cluster?.close();
    this.#upstream?.close();
    await Promise.all(closing);
  }

  destroy(_err?: Error): void {
    void this.close();
  }

  #forward(to: Destination, query: Query, transport: Transport, reply: (response: Buffer | undefined) => void): void {
    const forwarder = to === 'cluster' ? this.#cluster : this.#upstream;
    if (!forwarder) {
      this.#servfail(query, reply);
      return;
    }
    if (this.#pending[to] >= this.#maxPending) {
      this.#dropOverloaded(reply);
      return;
    }
    this.#pending[to]++;
    forwarder.query(query.bytes).then(
      (answer) => {
        this.#pending[to]--;
        const message = answer.length >= 12 && ((answer[2] ?? 0) & 0x80) !== 0 ? decodeMessage(answer) : undefined;
        if (!message) {
          this.#stats.forwardFailures++;
          this.#servfail(query, reply);
          return;
        }
        const response = relayResponse(query, answer, transport);
        if (response.length < answer.length) this.#stats.truncated++;
        const found =
          to === 'cluster' && this.#onClusterAddresses ? clusterAddressesOf(message, this.#records.zone.domain) : [];
        const holding = found.length ? this.#onClusterAddresses?.(found) : undefined;
        if (holding)
          holding.then(
            () => reply(response),
            () => reply(response),
          );
        else reply(response);
      },
      (err: unknown) => {
        this.#pending[to]--;
        if (isOverloaded(err)) {
          this.#dropOverloaded(reply);
          return;
        }
        this.#countForwardError(err);
        this.#servfail(query, reply);
      },
    );
  }

  #chase(
    query: Query,
    chain: EncodedRecords[],
    target: string,
    transport: Transport,
    reply: (r: Buffer | undefined) => void,
  ): void {
    const to: Destination = this.#cluster ? 'cluster' : 'upstream';
    const forwarder = this.#cluster ?? this.#upstream;
    const finish = (rcode: number, extra: EncodedRecords[]) => {
      const response = buildResponse(query, { rcode, authoritative: false, answers: [...chain, ...extra] }, transport);
      this.#count(response, rcode, false);
      reply(response);
    };
    // Over the bound the alias alone is still a true answer: no need to drop it.
    if (!forwarder || this.#pending[to] >= this.#maxPending) {
      finish(RCODE.NOERROR, []);
      return;
    }
    this.#pending[to]++;
    forwarder.query(encodeQuestion(target, query.type)).then(
      (answer) => {
        this.#pending[to]--;
        const records = answerRecordsOf(answer);
        finish(headerRcode(answer) === RCODE.NXDOMAIN ? RCODE.NXDOMAIN : RCODE.NOERROR, records ? [records] : []);
      },
      (err: unknown) => {
        this.#pending[to]--;
        if (!isOverloaded(err)) this.#countForwardError(err);
        // The alias itself is still true; the client may resolve the target on its own.
        finish(RCODE.NOERROR, []);
      },
    );
  }

  /** A possible namespace we cannot see: NXDOMAIN if it is one (short name tried as-is), else upstream. */
  #probeThenForward(
    query: Query,
    namespace: string,
    transport: Transport,
    reply: (r: Buffer | undefined) => void,
  ): void {
    const probe = this.#probe;
    const decideWith = (isNamespace: boolean) => {
      if (isNamespace) {
        const response = buildResponse(query, { rcode: RCODE.NXDOMAIN, authoritative: true }, transport);
        this.#count(response, RCODE.NXDOMAIN, true);
        reply(response);
        return;
      }
      this.#stats.forwardedUpstream++;
      this.#forward('upstream', query, transport, reply);
    };
    const known = probe?.known(namespace, Date.now());
    if (!probe || known !== undefined) {
      decideWith(known === true);
      return;
    }
    this.#stats.namespaceProbes++;
    void probe.exists(namespace, this.#records.zone.domain).then(decideWith);
  }

  #servfail(query: Query, reply: (r: Buffer | undefined) => void): void {
    this.#stats.servfail++;
    reply(errorResponse(query, RCODE.SERVFAIL));
  }

  #dropOverloaded(reply: (r: Buffer | undefined) => void): void {
    this.#stats.droppedOverloaded++;
    reply(undefined);
  }

  #countForwardError(err: unknown): void {
    if (err instanceof ForwardError && err.reason === 'timeout') this.#stats.forwardTimeouts++;
    else this.#stats.forwardFailures++;
  }

  #count(response: Buffer, rcode: number, local: boolean): void {
    const s = this.#stats;
    if (((response[2] ?? 0) & 0x02) !== 0) s.truncated++;
    if (rcode === RCODE.REFUSED) s.refused++;
    else if (rcode === RCODE.SERVFAIL) s.servfail++;
    else if (local) {
      s.answeredLocally++;
      if (rcode === RCODE.NXDOMAIN) s.nxdomainLocally++;
    }
  }
}

function isOverloaded(err: unknown): boolean {
  return err instanceof ForwardError && err.reason === 'overloaded';
}

/**
 * The server as a kvpn session configures it (src/session/dns-setup.ts).
 * `npm run bench -- dns` builds its servers with this too, so it measures
 * what the daemon runs: any tuning belongs here, in neither caller.
 */
export function createSessionDnsServer(
  parts: Pick<
    DnsServerOptions,
    'records' | 'clusterForwarder' | 'clusterReverseZones' | 'onClusterAddresses' | 'observer'
  >,
): DnsServer {
  return new DnsServer({
    records: parts.records,
    ...(parts.clusterForwarder ? { clusterForwarder: parts.clusterForwarder } : {}),
    clusterReverseZones: parts.clusterReverseZones ?? [],
    ...(parts.onClusterAddresses ? { onClusterAddresses: parts.onClusterAddresses } : {}),
    ...(parts.observer ? { observer: parts.observer } : {}),
  });
}
