// The edge: takes a TunDevice and a Dialer, routes each read batch to TCP,
// UDP or ICMP, polls the connections that changed, writes everything they
// produced as one batch, and runs the stack's single timer.
//
//   TUN batch ─► parse IP ─► TCP: FlowTable ─► TcpConnection ─► StreamBridge ─► Duplex
//                        │        └─ unknown ─► TcpForwarder (dial first)
//                        ├─► UDP: UdpService ─► DatagramFlow
//                        └─► ICMP: echo to our own addresses
//   output: packets collected per batch / per event-loop turn ─► device.writeBatch
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import { parseIp } from '../../net/ip.js';
import type { TunDevice } from '../device.js';
import {
  findUpperLayer,
  IPV4_DST_ADDR_OFFSET,
  IPV4_SRC_ADDR_OFFSET,
  IPV6_DST_ADDR_OFFSET,
  IPV6_HEADER_LEN,
  IPV6_SRC_ADDR_OFFSET,
  IpProtocol,
  Ipv4Packet,
  Ipv6Packet,
  ipVersion,
  TcpPacket,
  TcpRepr,
  WireError,
} from '../wire/index.js';
import type { Dialer } from './dialer.js';
import { FlowTable, flowHash } from './flow-table.js';
import { buildEchoReply, readEchoRequest } from './icmp.js';
import { createStackStats, type DropReason, type StackStats } from './stats.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig } from './tcp/config.js';
import { TcpConnection } from './tcp/connection.js';
import { type ForwarderHost, type PendingDial, TcpForwarder } from './tcp/forwarder.js';
import type { TcpCloseReason, TcpHost } from './tcp/host.js';
import { TcpState } from './tcp/state.js';
import { StreamBridge } from './tcp/stream-bridge.js';
import { DeadlineTimer } from './timer-heap.js';
import { type UdpFlow, type UdpHost, UdpService } from './udp.js';

export interface StackOptions {
  /** Defaults to the device MTU. */
  mtu?: number;
  /** The stack's own addresses: echo requests to them are answered. */
  addresses?: string[];
  tcp?: Partial<Omit<TcpConfig, 'mtu'>>;
  maxConnections?: number;
  maxPendingDials?: number;
  /** Out-of-order bytes held across all connections. */
  reassemblyBudgetBytes?: number;
  maxUdpFlows?: number;
  udpIdleMs?: number;
  udpQueueDatagrams?: number;
  /** Verify TCP/UDP/ICMP checksums of incoming packets (the local kernel's are right; default off). */
  verifyChecksums?: boolean;
  /** Monotonic ms clock (tests). */
  clock?: () => number;
  /** State-transition logger; defaults to NODE_DEBUG=kvpn-tcp. */
  log?: ((message: string) => void) | null;
}

export const DEFAULT_MAX_CONNECTIONS = 65536;
export const DEFAULT_MAX_PENDING_DIALS = 1024;
export const DEFAULT_REASSEMBLY_BUDGET_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_UDP_FLOWS = 8192;
/**
 * The stack ends an idle UDP flow (through the dialer, so the relay hears of it).
 * The relay's own limit (src/relay/server/config.ts, 120 s) is longer on purpose:
 * this side decides, the relay's only ends flows whose client vanished.
 */
export const DEFAULT_UDP_IDLE_MS = 60_000;
export const DEFAULT_UDP_QUEUE_DATAGRAMS = 64;

const NO_ADDR = new Uint8Array(0);
const WIRE_DROP: Record<number, DropReason> = {
  [WireError.Truncated]: 'truncated',
  [WireError.Malformed]: 'malformed',
  [WireError.Checksum]: 'checksum',
  [WireError.Unsupported]: 'unsupported',
};

type TimedItem = TcpConnection | UdpFlow;

export class Stack {
  readonly stats: StackStats = createStackStats();
  readonly #device: TunDevice;
  readonly #tcpConfig: TcpConfig;
  readonly #clock: () => number;
  readonly #verify: boolean;
  readonly #own: Uint8Array[];
  readonly #conns = new FlowTable<TcpConnection>();
  readonly #forwarder: TcpForwarder;
  readonly #udp: UdpService;
  readonly #timer: DeadlineTimer<TimedItem>;
  readonly #tcpHost: TcpHost;
  readonly #maxConnections: number;
  readonly #maxPendingDials: number;
  /** Connections that entered TIME-WAIT, oldest first (some may have closed since). */
  #timeWait: TcpConnection[] = [];
  #out: Uint8Array[] = [];
  #dirty: TcpConnection[] = [];
  #inBatch = false;
  #flushScheduled = false;
  #closed = false;
  // Reused views: nothing is allocated per packet to parse headers.
  readonly #ip4 = new Ipv4Packet(NO_ADDR);
  readonly #ip6 = new Ipv6Packet(NO_ADDR);
  readonly #tcpView = new TcpPacket(NO_ADDR);
  readonly #seg = new TcpRepr();

  constructor(device: TunDevice, dialer: Dialer, options: StackOptions = {}) {
    this.#device = device;
    this.#tcpConfig = { ...DEFAULT_TCP_CONFIG, ...options.tcp, mtu: options.mtu ?? device.mtu };
    this.#clock = options.clock ?? (() => performance.now());
    this.#timer = new DeadlineTimer<TimedItem>(
      this.#clock,
      (item) => {
        if (item instanceof TcpConnection) this.#queuePoll(item);
      },
      () => this.#flush(),
    );
    this.#verify = options.verifyChecksums ?? false;
    this.#own = (options.addresses ?? []).map((a) => {
      const b = parseIp(a);
      if (!b) throw new TypeError(`not an IP address: ${a}`);
      return b;
    });
    this.#maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.#maxPendingDials = options.maxPendingDials ?? DEFAULT_MAX_PENDING_DIALS;
    const debug = debuglog('kvpn-tcp');
    const log = options.log !== undefined ? options.log : debug.enabled ? (m: string) => debug('%s', m) : null;
    const stack = this;
    this.#tcpHost = {
      stats: this.stats,
      budget: { used: 0, limit: options.reassemblyBudgetBytes ?? DEFAULT_REASSEMBLY_BUDGET_BYTES },
      scratch: new TcpRepr(),
      log,
      output: (p) => this.#output(p),
      timerChanged: (c) => this.#timer.update(c),
      connectionClosed: (c, r) => this.#connectionClosed(c, r),
      enteredTimeWait: (c) => this.#timeWait.push(c),
    };
    const fwdHost: ForwarderHost = {
      stats: this.stats,
      maxConnections: this.#maxConnections,
      maxPendingDials: this.#maxPendingDials,
      get connectionCount() {
        return stack.#conns.size;
      },
      output: (p) => this.#output(p),
      dialed: (p, s) => this.#dialed(p, s),
      reclaimTimeWait: () => this.#reclaimTimeWait(),
      flushSoon: () => this.#scheduleFlush(),
    };
    this.#forwarder = new TcpForwarder(dialer, fwdHost);
    const udpHost: UdpHost = {
      stats: this.stats,
      maxFlows: options.maxUdpFlows ?? DEFAULT_MAX_UDP_FLOWS,
      idleMs: options.udpIdleMs ?? DEFAULT_UDP_IDLE_MS,
      queueLimit: options.udpQueueDatagrams ?? DEFAULT_UDP_QUEUE_DATAGRAMS,
      output: (p) => this.#output(p),
      flushSoon: () => this.#scheduleFlush(),
      timerChanged: (f) => this.#timer.update(f),
      now: () => this.#clock(),
    };
    this.#udp = new UdpService(dialer, udpHost);
  }

  /** Starts reading from the device. */
  start(): void {
    this.#device.onPackets(this.#onBatch);
  }

  /** Number of TCP connections in the table (any state but CLOSED). */
  get connectionCount(): number {
    return this.#conns.size;
  }

  /** Idempotent: resets every connection, closes every flow, stops the timer. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#forwarder.cancelAll();
    for (const c of [...this.#conns.values()]) c.abort();
    this.#udp.closeAll();
    this.#flush();
    this.#timer.close();
  }

  destroy(_err?: Error): void {
    this.close();
  }

  // ---- input ----------------------------------------------------------------

  readonly #onBatch = (packets: readonly Uint8Array[]): void => {
    if (this.#closed) return;
    const now = this.#clock();
    this.#inBatch = true;
    for (let i = 0; i < packets.length; i++) this.#input(packets[i] as Uint8Array, now);
    this.#inBatch = false;
    this.#flush();
  };

  /** Feeds one packet (tests and the impairment layer use this directly). */
  input(packet: Uint8Array): void {
    this.#input(packet, this.#clock());
    this.#scheduleFlush();
  }

  #drop(reason: DropReason): void {
    this.stats.drops[reason]++;
  }

  #input(pkt: Uint8Array, now: number): void {
    this.stats.packetsIn++;
    const version = ipVersion(pkt);
    let proto: number;
    let l4Start: number;
    let l4End: number;
    let srcOff: number;
    let dstOff: number;
    let addrLen: number;
    if (version === 4) {
      const ip = this.#ip4.reset(pkt);
      const r = ip.checkLen();
      if (r !== 0) {
        this.#drop(WIRE_DROP[r] as DropReason);
        return;
      }
      if (this.#verify && !ip.verifyChecksum()) {
        this.#drop('checksum');
        return;
      }
      if (ip.moreFrags || ip.fragOffset !== 0) {
        this.#drop('unsupported');
        return;
      }
      proto = ip.protocol;
      l4Start = ip.headerLen;
      l4End = ip.totalLen;
      srcOff = IPV4_SRC_ADDR_OFFSET;
      dstOff = IPV4_DST_ADDR_OFFSET;
      addrLen = 4;
    } else if (version === 6) {
      const ip = this.#ip6.reset(pkt);
      const r = ip.checkLen();
      if (r !== 0) {
        this.#drop(WIRE_DROP[r] as DropReason);
        return;
      }
      const upper = findUpperLayer(pkt);
      if (upper < 0) {
        this.#drop(WIRE_DROP[-upper] as DropReason);
        return;
      }
      proto = upper >>> 16;
      l4Start = upper & 0xffff;
      l4End = IPV6_HEADER_LEN + ip.payloadLen;
      srcOff = IPV6_SRC_ADDR_OFFSET;
      dstOff = IPV6_DST_ADDR_OFFSET;
      addrLen = 16;
    } else {
      this.#drop('malformed');
      return;
    }
    switch (proto) {
      case IpProtocol.Tcp:
        this.#tcpInput(pkt, pkt.subarray(l4Start, l4End), srcOff, dstOff, addrLen, now);
        return;
      case IpProtocol.Udp:
        this.#udpInput(pkt, pkt.subarray(l4Start, l4End), srcOff, dstOff, addrLen, now);
        return;
      case IpProtocol.Icmp:
        if (addrLen === 4) {
          this.#icmpInput(pkt, pkt.subarray(l4Start, l4End), srcOff, dstOff, addrLen);
          return;
        }
        this.#drop('unsupported');
        return;
      case IpProtocol.Icmpv6:
        if (addrLen === 16) {
          this.#icmpInput(pkt, pkt.subarray(l4Start, l4End), srcOff, dstOff, addrLen);
          return;
        }
        this.#drop('unsupported');
        return;
      default:
        this.#drop('unsupported');
        return;
    }
  }

  #tcpInput(pkt: Uint8Array, l4: Uint8Array, srcOff: number, dstOff: number, addrLen: number, now: number): void {
    const seg = this.#seg;
    const src = this.#verify ? pkt.subarray(srcOff, srcOff + addrLen) : NO_ADDR;
    const dst = this.#verify ? pkt.subarray(dstOff, dstOff + addrLen) : NO_ADDR;
    const r = seg.parseFrom(this.#tcpView.reset(l4), src, dst, { verifyChecksum: this.#verify });
    if (r !== 0) {
      this.#drop(WIRE_DROP[r] as DropReason);
      return;
    }
    const hash = flowHash(pkt, srcOff, dstOff, addrLen, seg.srcPort, seg.dstPort);
    const conn = this.#conns.find(pkt, srcOff, dstOff, addrLen, seg.srcPort, seg.dstPort, hash);
    if (conn !== null) {
      const reopen = conn.onSegment(seg, l4, now);
      this.#queuePoll(conn);
      if (!reopen) return;
    } else {
      this.stats.tcp.segmentsIn++;
    }
    this.#forwarder.onSegment(pkt, srcOff, dstOff, addrLen, seg, hash);
  }

  #udpInput(pkt: Uint8Array, l4: Uint8Array, srcOff: number, dstOff: number, addrLen: number, now: number): void {
    const drop = this.#udp.input(pkt, l4, srcOff, dstOff, addrLen, this.#verify, now);
    if (drop !== null) this.#drop(drop);
  }

  #icmpInput(pkt: Uint8Array, l4: Uint8Array, srcOff: number, dstOff: number, addrLen: number): void {
    const src = pkt.subarray(srcOff, srcOff + addrLen);
    const dst = pkt.subarray(dstOff, dstOff + addrLen);
    const echo = readEchoRequest(l4, src, dst);
    if (typeof echo === 'string') {
      this.#drop(echo);
      return;
    }
    if (!this.#isOwn(dst)) {
      this.#drop('icmpIgnored');
      return;
    }
    this.stats.icmp.echoReplies++;
    this.#output(buildEchoReply(dst.slice(), src.slice(), echo.ident, echo.seqNo, echo.data));
  }

  #isOwn(addr: Uint8Array): boolean {
    outer: for (const a of this.#own) {
      if (a.length !== addr.length) continue;
      for (let i = 0; i < a.length; i++) if (a[i] !== addr[i]) continue outer;
      return true;
    }
    return false;
  }

  // ---- connections ------------------------------------------------------------

  #dialed(p: PendingDial, stream: Duplex): void {
    if (this.#closed) {
      stream.destroy();
      return;
    }
    const conn = new TcpConnection(
      { localAddr: p.localAddr, localPort: p.localPort, remoteAddr: p.remoteAddr, remotePort: p.remotePort },
      p.syn,
      this.#forwarder.nextIss(),
      this.#tcpConfig,
      this.#tcpHost,
    );
    conn.hash = p.hash;
    this.#conns.add(conn);
    this.stats.tcp.connectionsOpen = this.#conns.size;
    this.stats.tcp.connectionsTotal++;
    new StreamBridge(conn, stream, this);
    this.#queuePoll(conn);
  }

  #connectionClosed(conn: TcpConnection, _reason: TcpCloseReason): void {
    this.#conns.remove(conn);
    if (this.#timeWait.length > 1024 && this.#timeWait.length > 2 * this.stats.tcp.timeWait) {
      this.#timeWait = this.#timeWait.filter((c) => c.state === TcpState.TimeWait);
    }
    this.#timer.remove(conn);
    this.stats.tcp.connectionsOpen = this.#conns.size;
  }

  #reclaimTimeWait(): boolean {
    while (this.#timeWait.length > 0) {
      const c = this.#timeWait.shift() as TcpConnection;
      if (c.state !== TcpState.TimeWait) continue;
      c.abort();
      this.stats.tcp.timeWaitRecycled++;
      return true;
    }
    return false;
  }

  /** BridgeHost: poll this connection at the end of the current turn. */
  schedule(conn: TcpConnection): void {
    this.#queuePoll(conn);
    this.#scheduleFlush();
  }

  #queuePoll(conn: TcpConnection): void {
    if (conn.pollQueued) return;
    conn.pollQueued = true;
    this.#dirty.push(conn);
  }

  // ---- output -------------------------------------------------------------------

  #output(packet: Uint8Array): void {
    this.#out.push(packet);
    if (!this.#inBatch) this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#inBatch) return;
    this.#flushScheduled = true;
    setImmediate(this.#flushNow);
  }

  readonly #flushNow = (): void => {
    this.#flushScheduled = false;
    this.#flush();
  };

  #flush(): void {
    if (this.#dirty.length > 0) {
      const now = this.#clock();
      const dirty = this.#dirty;
      this.#dirty = [];
      for (let i = 0; i < dirty.length; i++) {
        const c = dirty[i] as TcpConnection;
        c.pollQueued = false;
        c.poll(now);
      }
    }
    if (this.#out.length > 0) {
      const out = this.#out;
      this.#out = [];
      this.stats.packetsOut += out.length;
      const before = this.#device.stats.writeDropped;
      this.#device.writeBatch(out);
      this.stats.drops.deviceWriteQueueFull += this.#device.stats.writeDropped - before;
    }
    this.#timer.arm();
  }
}
