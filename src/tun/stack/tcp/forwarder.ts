// Per SYN, decide: ignore, reset, or complete (gVisor's forwarder.go shape),
// with the dial first (docs/design.md §4). A SYN for an unknown 4-tuple
// asks the dialer to connect; only a connected dial becomes a TcpConnection
// (which answers SYN-ACK). Refused/error → RST, unreachable → ICMP
// unreachable, timeout → silence. Retransmitted SYNs while the dial is
// pending are absorbed; pending dials are bounded.
import { randomFillSync } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { formatIp } from '../../../net/ip.js';
import { buildTcpPacket, TcpControl, TcpRepr } from '../../wire/index.js';
import { DialError, type Dialer, type DialFailureReason } from '../dialer.js';
import { type FlowEntry, FlowTable } from '../flow-table.js';
import { buildUnreachable } from '../icmp.js';
import type { StackStats } from '../stats.js';
import type { TcpSynOptions } from './host.js';

export class PendingDial implements FlowEntry<PendingDial> {
  readonly localAddr: Uint8Array;
  readonly localPort: number;
  readonly remoteAddr: Uint8Array;
  readonly remotePort: number;
  hash: number;
  nextInBucket: PendingDial | null = null;
  readonly syn: TcpSynOptions;
  readonly controller = new AbortController();
  cancelled = false;

  constructor(
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
    hash: number,
    syn: TcpSynOptions,
  ) {
    this.localAddr = local;
    this.localPort = localPort;
    this.remoteAddr = remote;
    this.remotePort = remotePort;
    this.hash = hash;
    this.syn = syn;
  }
}

export interface ForwarderHost {
  readonly stats: StackStats;
  /** Connections open plus pending dials may not exceed this. */
  readonly maxConnections: number;
  readonly maxPendingDials: number;
  readonly connectionCount: number;
  output(packet: Uint8Array): void;
  /** Ends the oldest TIME-WAIT connection to make room; false if there is none. */
  reclaimTimeWait(): boolean;
  /** The dial connected: create the connection and answer the SYN. */
  dialed(pending: PendingDial, stream: Duplex): void;
  /** Output was produced outside a batch: flush soon. */
  flushSoon(): void;
}

export class TcpForwarder {
  readonly pending = new FlowTable<PendingDial>();
  readonly #dialer: Dialer;
  readonly #host: ForwarderHost;
  readonly #isnPool = new Uint32Array(256);
  #isnNext = 256;

  constructor(dialer: Dialer, host: ForwarderHost) {
    this.#dialer = dialer;
    this.#host = host;
  }

  /** RFC 9293 §3.4.1 says clock-driven ISNs; RFC 6528 says unpredictable. We use random. */
  nextIss(): number {
    if (this.#isnNext >= this.#isnPool.length) {
      randomFillSync(this.#isnPool);
      this.#isnNext = 0;
    }
    return this.#isnPool[this.#isnNext++] as number;
  }

  /**
   * A segment for no connection. `packet` is the whole IP packet, `seg` its
   * parsed TCP header; addresses are read at the given offsets.
   */
  onSegment(
    packet: Uint8Array,
    remoteOff: number,
    localOff: number,
    addrLen: number,
    seg: TcpRepr,
    hash: number,
  ): void {
    const stats = this.#host.stats;
    const pending = this.pending.find(packet, remoteOff, localOff, addrLen, seg.srcPort, seg.dstPort, hash);
    if (pending !== null) {
      if (seg.control === TcpControl.Syn) stats.drops.synWhileDialing++;
      else if (seg.control === TcpControl.Rst) {
        // The application gave up while we were dialing.
        stats.tcp.resetsReceived++;
        this.#cancel(pending);
      } else stats.drops.noConnection++;
      return;
    }
    if (seg.control !== TcpControl.Syn || seg.hasAck) {
      stats.drops.noConnection++;
      // RFC 9293 §3.10.7.1 (CLOSED): answer anything but a RST with a RST.
      if (seg.control !== TcpControl.Rst) {
        const remote = packet.slice(remoteOff, remoteOff + addrLen);
        const local = packet.slice(localOff, localOff + addrLen);
        if (seg.hasAck) this.#sendRst(local, remote, seg.dstPort, seg.srcPort, seg.ackNumber, 0, false);
        else this.#sendRst(local, remote, seg.dstPort, seg.srcPort, 0, (seg.seqNumber + seg.segmentLen) >>> 0, true);
      }
      return;
    }
    if (this.#host.connectionCount + this.pending.size >= this.#host.maxConnections && !this.#host.reclaimTimeWait()) {
      stats.drops.connectionLimit++;
      return;
    }
    if (this.pending.size >= this.#host.maxPendingDials) {
      stats.drops.pendingDialLimit++;
      return;
    }
    const p = new PendingDial(
      packet.slice(localOff, localOff + addrLen),
      seg.dstPort,
      packet.slice(remoteOff, remoteOff + addrLen),
      seg.srcPort,
      hash,
      {
        seq: seg.seqNumber,
        window: seg.windowLen,
        mss: seg.maxSegSize,
        windowScale: seg.windowScale,
        sackPermitted: seg.sackPermitted,
      },
    );
    this.pending.add(p);
    stats.tcp.pendingDials = this.pending.size;
    this.#dial(p);
  }

  #dial(p: PendingDial): void {
    const family = p.localAddr.length === 4 ? 4 : 6;
    this.#dialer
      .dialTcp({
        family,
        destination: { address: formatIp(p.localAddr), port: p.localPort },
        source: { address: formatIp(p.remoteAddr), port: p.remotePort },
        signal: p.controller.signal,
      })
      .then(
        (stream) => {
          if (p.cancelled) {
            stream.on('error', () => {});
            stream.destroy();
            return;
          }
          this.#finish(p);
          this.#host.dialed(p, stream);
          this.#host.flushSoon();
        },
        (err: unknown) => {
          if (p.cancelled) return;
          this.#finish(p);
          this.#failed(p, err instanceof DialError ? err.reason : 'error');
          this.#host.flushSoon();
        },
      );
  }

  #failed(p: PendingDial, reason: DialFailureReason): void {
    this.#host.stats.dialErrors[reason]++;
    switch (reason) {
      case 'refused':
      case 'error':
        // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>: the app sees ECONNREFUSED.
        this.#sendRst(p.localAddr, p.remoteAddr, p.localPort, p.remotePort, 0, (p.syn.seq + 1) >>> 0, true);
        break;
      case 'unreachable': {
        this.#host.stats.icmp.unreachableSent++;
        this.#host.output(buildUnreachable(p.localAddr, p.remoteAddr, this.#rebuildSyn(p), 'host'));
        break;
      }
      case 'timeout':
        // Silence: the app's kernel retransmits the SYN and eventually times out.
        break;
    }
  }

  /** The SYN as the application sent it (headers only), for the ICMP quote. */
  #rebuildSyn(p: PendingDial): Uint8Array {
    const r = new TcpRepr();
    r.srcPort = p.remotePort;
    r.dstPort = p.localPort;
    r.seqNumber = p.syn.seq;
    r.control = TcpControl.Syn;
    r.windowLen = p.syn.window;
    return buildTcpPacket(p.remoteAddr, p.localAddr, r);
  }

  #sendRst(
    from: Uint8Array,
    to: Uint8Array,
    fromPort: number,
    toPort: number,
    seq: number,
    ack: number,
    withAck: boolean,
  ): void {
    const r = new TcpRepr();
    r.srcPort = fromPort;
    r.dstPort = toPort;
    r.seqNumber = seq;
    r.hasAck = withAck;
    r.ackNumber = ack;
    r.control = TcpControl.Rst;
    this.#host.stats.tcp.resetsSent++;
    this.#host.stats.tcp.segmentsOut++;
    this.#host.output(buildTcpPacket(from, to, r));
  }

  #finish(p: PendingDial): void {
    this.pending.remove(p);
    this.#host.stats.tcp.pendingDials = this.pending.size;
  }

  #cancel(p: PendingDial): void {
    p.cancelled = true;
    this.#finish(p);
    p.controller.abort();
  }

  /** Aborts every pending dial (stack shutdown). */
  cancelAll(): void {
    for (const p of [...this.pending.values()]) this.#cancel(p);
  }
}
