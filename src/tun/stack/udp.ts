// UDP flows: datagrams from the application keyed by 4-tuple, each flow
// handed to the dialer as a DatagramFlow. While the flow opens, datagrams
// wait in a bounded queue; idle flows close after `idleMs`. A refused open
// answers ICMP port unreachable (the app's recv() sees ECONNREFUSED), an
// unreachable one ICMP host unreachable.

import { formatIp } from '../../net/ip.js';
import { buildUdpPacket, UdpPacket, WireError } from '../wire/index.js';
import { type DatagramFlow, DialError, type Dialer } from './dialer.js';
import { type FlowEntry, FlowTable, flowHash } from './flow-table.js';
import { buildUnreachable } from './icmp.js';
import type { DropReason, StackStats } from './stats.js';
import type { Timed } from './timer-heap.js';

export interface UdpHost {
  readonly stats: StackStats;
  readonly maxFlows: number;
  readonly idleMs: number;
  /** Datagrams held per flow while it opens. */
  readonly queueLimit: number;
  output(packet: Uint8Array): void;
  flushSoon(): void;
  timerChanged(flow: UdpFlow): void;
  now(): number;
}

export class UdpFlow implements FlowEntry<UdpFlow>, Timed {
  readonly localAddr: Uint8Array;
  readonly localPort: number;
  readonly remoteAddr: Uint8Array;
  readonly remotePort: number;
  hash: number;
  nextInBucket: UdpFlow | null = null;
  deadline = Number.POSITIVE_INFINITY;
  heapIndex = -1;
  flow: DatagramFlow | null = null;
  queue: Uint8Array[] = [];
  /** The first packet, kept for the ICMP quote if the open fails. */
  first: Uint8Array | null;
  lastActive: number;
  closed = false;
  readonly #service: UdpService;

  constructor(
    service: UdpService,
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
    hash: number,
    first: Uint8Array,
    now: number,
  ) {
    this.#service = service;
    this.localAddr = local;
    this.localPort = localPort;
    this.remoteAddr = remote;
    this.remotePort = remotePort;
    this.hash = hash;
    this.first = first;
    this.lastActive = now;
  }

  onTimer(now: number): void {
    this.#service.expire(this, now);
  }
}

export class UdpService {
  readonly flows = new FlowTable<UdpFlow>();
  readonly #dialer: Dialer;
  readonly #host: UdpHost;

  constructor(dialer: Dialer, host: UdpHost) {
    this.#dialer = dialer;
    this.#host = host;
  }

  /**
   * Validates a UDP header (RFC 768; a zero checksum is illegal over IPv6)
   * and hands the datagram on; returns why it was dropped, or null.
   */
  input(
    pkt: Uint8Array,
    l4: Uint8Array,
    srcOff: number,
    dstOff: number,
    addrLen: number,
    verify: boolean,
    now: number,
  ): DropReason | null {
    const udp = new UdpPacket(l4);
    const r = udp.checkLen();
    if (r !== 0) return r === WireError.Truncated ? 'truncated' : 'malformed';
    if (udp.dstPort === 0 || udp.srcPort === 0) return 'malformed';
    if (udp.checksum === 0 && addrLen === 16) return 'malformed';
    if (verify && udp.checksum !== 0) {
      const src = pkt.subarray(srcOff, srcOff + addrLen);
      const dst = pkt.subarray(dstOff, dstOff + addrLen);
      if (!udp.verifyChecksum(src, dst)) return 'checksum';
    }
    const hash = flowHash(pkt, srcOff, dstOff, addrLen, udp.srcPort, udp.dstPort);
    this.onDatagram(pkt, srcOff, dstOff, addrLen, udp.srcPort, udp.dstPort, hash, udp.payload, now);
    return null;
  }

  /** One datagram from the application; `payload` is valid only during the call. */
  onDatagram(
    packet: Uint8Array,
    remoteOff: number,
    localOff: number,
    addrLen: number,
    srcPort: number,
    dstPort: number,
    hash: number,
    payload: Uint8Array,
    now: number,
  ): void {
    const stats = this.#host.stats;
    let f = this.flows.find(packet, remoteOff, localOff, addrLen, srcPort, dstPort, hash);
    if (f === null) {
      if (this.flows.size >= this.#host.maxFlows) {
        stats.drops.udpFlowLimit++;
        return;
      }
      f = new UdpFlow(
        this,
        packet.slice(localOff, localOff + addrLen),
        dstPort,
        packet.slice(remoteOff, remoteOff + addrLen),
        srcPort,
        hash,
        packet.slice(),
        now,
      );
      this.flows.add(f);
      stats.udp.flowsOpen = this.flows.size;
      stats.udp.flowsTotal++;
      f.deadline = now + this.#host.idleMs;
      this.#host.timerChanged(f);
      this.#open(f);
    }
    f.lastActive = now;
    stats.udp.datagramsFromApp++;
    stats.udp.bytesFromApp += payload.length;
    const copy = Buffer.from(payload);
    if (f.flow !== null) {
      if (!f.flow.send(copy)) stats.drops.udpQueueFull++;
    } else if (f.queue.length < this.#host.queueLimit) {
      f.queue.push(copy);
    } else {
      stats.drops.udpQueueFull++;
    }
  }

  #open(f: UdpFlow): void {
    const controller = new AbortController();
    this.#dialer
      .openUdp({
        family: f.localAddr.length === 4 ? 4 : 6,
        destination: { address: formatIp(f.localAddr), port: f.localPort },
        source: { address: formatIp(f.remoteAddr), port: f.remotePort },
        signal: controller.signal,
      })
      .then(
        (flow) => {
          if (f.closed) {
            flow.close();
            return;
          }
          f.flow = flow;
          f.first = null;
          flow.onDatagram((d) => this.#toApp(f, d));
          flow.onClose(() => this.#remove(f));
          for (const d of f.queue) if (!flow.send(d)) this.#host.stats.drops.udpQueueFull++;
          f.queue = [];
        },
        (err: unknown) => {
          if (f.closed) return;
          const reason = err instanceof DialError ? err.reason : 'error';
          this.#host.stats.dialErrors[reason]++;
          if ((reason === 'refused' || reason === 'unreachable') && f.first !== null) {
            this.#host.stats.icmp.unreachableSent++;
            this.#host.output(
              buildUnreachable(f.localAddr, f.remoteAddr, f.first, reason === 'refused' ? 'port' : 'host'),
            );
            this.#host.flushSoon();
          }
          this.#remove(f);
        },
      );
  }

  #toApp(f: UdpFlow, datagram: Uint8Array): void {
    if (f.closed) return;
    f.lastActive = this.#host.now();
    const stats = this.#host.stats;
    stats.udp.datagramsToApp++;
    stats.udp.bytesToApp += datagram.length;
    this.#host.output(buildUdpPacket(f.localAddr, f.remoteAddr, f.localPort, f.remotePort, datagram));
    this.#host.flushSoon();
  }

  /** Idle check: close after idleMs without traffic either way. */
  expire(f: UdpFlow, now: number): void {
    if (f.closed) return;
    const idleUntil = f.lastActive + this.#host.idleMs;
    if (now < idleUntil) {
      f.deadline = idleUntil;
      this.#host.timerChanged(f);
      return;
    }
    this.#remove(f);
  }

  #remove(f: UdpFlow): void {
    if (f.closed) return;
    f.closed = true;
    this.flows.remove(f);
    this.#host.stats.udp.flowsOpen = this.flows.size;
    f.deadline = Number.POSITIVE_INFINITY;
    this.#host.timerChanged(f);
    f.queue = [];
    f.first = null;
    f.flow?.close();
    f.flow = null;
  }

  closeAll(): void {
    for (const f of [...this.flows.values()]) this.#remove(f);
  }
}
