// Every TCP connection and UDP flow the stack hands to the tunnel, for the
// Connections view: where it went, the name it was resolved from, whose
// address that is, how the dial ended, bytes each way. Open flows are held
// until they end; ended ones go to a ring (newest 10,000 by default).
// Bytes are read from the connection when the page asks, never counted here
// per chunk: an open page costs the data path nothing.
import type { AddressOwner } from '../dns/index.js';
import { DialError } from '../tun/stack/index.js';
import type { NameBook } from './name-book.js';
import { Ring } from './ring.js';

export type FlowState =
  | 'dialing'
  | 'open'
  | 'closed'
  | 'reset'
  | 'refused'
  | 'unreachable'
  | 'timeout'
  | 'failed'
  | 'cancelled';

export const FLOW_STATES: readonly FlowState[] = [
  'dialing',
  'open',
  'closed',
  'reset',
  'refused',
  'unreachable',
  'timeout',
  'failed',
  'cancelled',
];

/** A connection's own byte counts: the tunnel's (sent/received) or a socket's (written/read). */
export interface ByteSource {
  readonly bytesSent?: number;
  readonly bytesReceived?: number;
  readonly bytesWritten?: number;
  readonly bytesRead?: number;
  /** The tunnel's: how long the relay's own dial took (the rest of dialMs is the carrier's). */
  readonly relayDialMs?: number | undefined;
}

export interface Flow {
  readonly id: number;
  readonly proto: 'tcp' | 'udp';
  readonly source: string;
  readonly address: string;
  readonly port: number;
  readonly name: string | undefined;
  readonly owner: AddressOwner | undefined;
  state: FlowState;
  detail: string | undefined;
  readonly openedAt: number;
  dialMs: number | undefined;
  relayDialMs: number | undefined;
  closedAt: number | undefined;
  sent: number;
  received: number;
  live: ByteSource | undefined;
}

export interface FlowView {
  id: number;
  proto: 'tcp' | 'udp';
  source: string;
  destination: string;
  name: string | null;
  /** `service web.shop`, `endpoint of web.shop`, `pod in shop`, or null. */
  owner: string | null;
  namespace: string | null;
  state: FlowState;
  detail: string | null;
  openedAt: number;
  durationMs: number;
  dialMs: number | null;
  /** Of dialMs, the relay's own dial (the rest is the carrier's round trip and the laptop's). */
  relayDialMs: number | null;
  bytesToCluster: number;
  bytesFromCluster: number;
}

export interface FlowQuery {
  text?: string | undefined;
  /** A FlowState, 'active' (dialing or open), or 'failed' (any dial failure). */
  state?: string | undefined;
  namespace?: string | undefined;
  limit?: number | undefined;
}

export interface FlowPage {
  /** Flows ever recorded. */
  total: number;
  open: number;
  /** Ended flows the ring pushed out. */
  dropped: number;
  /** Flows not recorded because maxOpen were open at once. */
  untracked: number;
  matched: number;
  byState: Record<string, number>;
  /** Every namespace flows went to (before any filter), for the filter's choices. */
  namespaces: string[];
  flows: FlowView[];
}

export interface FlowLogOptions {
  names: NameBook;
  /** Whose address it is (the cluster zone); absent with DNS off. */
  ownerOf?: ((address: string) => AddressOwner | undefined) | undefined;
  capacity?: number;
  maxOpen?: number;
  now?: () => number;
}

export const FLOW_LOG_CAPACITY = 10_000;
export const MAX_LISTED = 2000;
const DEFAULT_LISTED = 500;
const FAILED = new Set<FlowState>(['refused', 'unreachable', 'timeout', 'failed']);

export class FlowLog {
  /** Changes whenever a flow starts or changes state (the page's cue to refetch). */
  version = 0;
  untracked = 0;
  readonly #open = new Map<number, Flow>();
  readonly #ended: Ring<Flow>;
  readonly #names: NameBook;
  readonly #ownerOf: FlowLogOptions['ownerOf'];
  readonly #maxOpen: number;
  readonly #now: () => number;
  #nextId = 1;

  constructor(options: FlowLogOptions) {
    this.#names = options.names;
    this.#ownerOf = options.ownerOf;
    this.#ended = new Ring(options.capacity ?? FLOW_LOG_CAPACITY);
    this.#maxOpen = options.maxOpen ?? 4 * (options.capacity ?? FLOW_LOG_CAPACITY);
    this.#now = options.now ?? preciseNow;
  }

  /** A dial starts; undefined (and counted) beyond maxOpen flows at once. */
  begin(proto: 'tcp' | 'udp', source: string, address: string, port: number): Flow | undefined {
    if (this.#open.size >= this.#maxOpen) {
      this.untracked++;
      return undefined;
    }
    let owner: AddressOwner | undefined;
    try {
      owner = this.#ownerOf?.(address);
    } catch {
      owner = undefined;
    }
    const flow: Flow = {
      id: this.#nextId++,
      proto,
      source,
      address,
      port,
      name: this.#names.nameOf(address),
      owner,
      state: 'dialing',
      detail: undefined,
      openedAt: this.#now(),
      dialMs: undefined,
      relayDialMs: undefined,
      closedAt: undefined,
      sent: 0,
      received: 0,
      live: undefined,
    };
    this.#open.set(flow.id, flow);
    this.version++;
    return flow;
  }

  connected(flow: Flow, live: ByteSource): void {
    flow.state = 'open';
    flow.dialMs = this.#now() - flow.openedAt;
    flow.relayDialMs = live.relayDialMs;
    flow.live = live;
    this.version++;
  }

  /** The dial failed: the relay's reason (refused, unreachable…) and its words. */
  failed(flow: Flow, err: unknown, cancelled: boolean): void {
    const state: FlowState = cancelled
      ? 'cancelled'
      : err instanceof DialError
        ? err.reason === 'error'
          ? 'failed'
          : err.reason
        : 'failed';
    flow.dialMs = this.#now() - flow.openedAt;
    this.#end(flow, state, err instanceof Error ? err.message : String(err));
  }

  /** An open flow ended: cleanly, or reset (`err`). */
  ended(flow: Flow, err?: Error | null): void {
    if (!this.#open.has(flow.id)) return;
    this.#end(flow, err ? 'reset' : 'closed', err?.message);
  }

  #end(flow: Flow, state: FlowState, detail: string | undefined): void {
    if (!this.#open.delete(flow.id)) return;
    const counts = readBytes(flow);
    flow.sent = counts.sent;
    flow.received = counts.received;
    flow.live = undefined;
    flow.state = state;
    flow.detail = detail;
    flow.closedAt = this.#now();
    this.#ended.push(flow);
    this.version++;
  }

  /** Flows ever recorded. */
  get total(): number {
    return this.#ended.total + this.#open.size;
  }

  get openCount(): number {
    return this.#open.size;
  }

  query(q: FlowQuery = {}): FlowPage {
    const now = this.#now();
    const limit = Math.min(MAX_LISTED, Math.max(1, Math.floor(q.limit ?? DEFAULT_LISTED)));
    const text = q.text?.trim().toLowerCase() || undefined;
    const byState: Record<string, number> = {};
    const flows: FlowView[] = [];
    const namespaces = new Set<string>();
    let matched = 0;
    const consider = (flow: Flow): void => {
      const namespace = namespaceOf(flow);
      if (namespace) namespaces.add(namespace);
      if (q.namespace && namespace !== q.namespace) return;
      if (text && !haystack(flow).includes(text)) return;
      byState[flow.state] = (byState[flow.state] ?? 0) + 1;
      if (!stateMatches(flow.state, q.state)) return;
      matched++;
      if (flows.length < limit) flows.push(view(flow, now));
    };
    const open = [...this.#open.values()];
    for (let i = open.length - 1; i >= 0; i--) consider(open[i] as Flow);
    for (const flow of this.#ended.newestFirst()) consider(flow);
    return {
      total: this.total,
      open: this.#open.size,
      dropped: this.#ended.dropped,
      untracked: this.untracked,
      matched,
      byState,
      namespaces: [...namespaces].sort(),
      flows,
    };
  }
}

function stateMatches(state: FlowState, wanted: string | undefined): boolean {
  if (!wanted) return true;
  if (wanted === 'active') return state === 'dialing' || state === 'open';
  if (wanted === 'failed') return FAILED.has(state);
  return state === wanted;
}

function readBytes(flow: Flow): { sent: number; received: number } {
  const live = flow.live;
  if (!live) return { sent: flow.sent, received: flow.received };
  return {
    sent: flow.sent + (live.bytesSent ?? live.bytesWritten ?? 0),
    received: flow.received + (live.bytesReceived ?? live.bytesRead ?? 0),
  };
}

/** The namespace of the address's owner, else of the name it was resolved from (`web.shop.svc…`). */
function namespaceOf(flow: Flow): string | undefined {
  if (flow.owner) return flow.owner.namespace;
  const labels = flow.name?.split('.');
  const svc = labels?.indexOf('svc') ?? -1;
  return svc >= 2 ? labels?.[svc - 1] : undefined;
}

function ownerText(owner: AddressOwner | undefined): string | null {
  if (!owner) return null;
  if (owner.kind === 'service') return `service ${owner.name}.${owner.namespace}`;
  if (owner.kind === 'endpoint') return `endpoint of ${owner.name}.${owner.namespace}`;
  return `pod in ${owner.namespace}`;
}

function haystack(flow: Flow): string {
  return [
    flow.proto,
    `${flow.address}:${flow.port}`,
    flow.name ?? '',
    ownerText(flow.owner) ?? '',
    flow.state,
    flow.detail ?? '',
    flow.source,
  ]
    .join(' ')
    .toLowerCase();
}

/** Wall-clock milliseconds with a fraction: dial times are often under a millisecond. */
function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Milliseconds to the microsecond (JSON stays short). */
function micro(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function view(flow: Flow, now: number): FlowView {
  const bytes = readBytes(flow);
  return {
    id: flow.id,
    proto: flow.proto,
    source: flow.source,
    destination: flow.address.includes(':') ? `[${flow.address}]:${flow.port}` : `${flow.address}:${flow.port}`,
    name: flow.name ?? null,
    owner: ownerText(flow.owner),
    namespace: namespaceOf(flow) ?? null,
    state: flow.state,
    detail: flow.detail ?? null,
    openedAt: Math.round(flow.openedAt),
    durationMs: micro((flow.closedAt ?? now) - flow.openedAt),
    dialMs: flow.dialMs === undefined ? null : micro(flow.dialMs),
    relayDialMs: flow.relayDialMs === undefined ? null : micro(flow.relayDialMs),
    bytesToCluster: bytes.sent,
    bytesFromCluster: bytes.received,
  };
}
