// Inbound UDP: datagrams the cluster sends to the relay's port reach the
// laptop over streams it parked there (`kvpn-accept: udp/1`), one stream per
// source address, framed as in udp/1 (datagram-codec.ts).
//
//   laptop: CONNECT 0.0.0.0:P + kvpn-accept: udp/1 ─► 102: parked on UDP socket P
//   first datagram from a source ─► a parked stream ─► 200 + kvpn-peer: source ─► flow
//   flow: source ─► [len16|datagram] ─► laptop; laptop ─► [len16|datagram] ─► source
//
// UDP semantics: a datagram from a new source while nothing is parked is
// dropped (counted), as is one the laptop's stream cannot take right now. A
// flow ends after udpIdleMs without a datagram either way; a socket with
// nothing parked and no flow for lingerMs closes.
import type dgram from 'node:dgram';
import http2 from 'node:http2';
import { DatagramDecoder, encodeDatagram } from '../datagram-codec.js';
import { HEADER_PEER, PARKED_STATUS } from '../protocol.js';
import { UDP_FLOW_QUEUE_BYTES } from './config.js';
import type { FlowContext } from './flow.js';
import { bindUdpAllFamilies, peerName } from './listen.js';
import type { RelayLog } from './log.js';

const { NGHTTP2_NO_ERROR } = http2.constants;

interface Parked {
  stream: http2.ServerHttp2Stream;
  ctx: FlowContext;
}

interface Flow {
  stream: http2.ServerHttp2Stream;
  idle: NodeJS.Timeout;
}

interface UdpListener {
  port: number;
  /** Undefined while it is being bound. */
  socket: dgram.Socket | undefined;
  parked: Parked[];
  flows: Map<string, Flow>;
  lingerTimer: NodeJS.Timeout | undefined;
}

export interface InboundUdpCounters {
  flowsAccepted: number;
  datagramsDropped: number;
}

export class InboundUdpListeners {
  readonly counters: InboundUdpCounters = { flowsAccepted: 0, datagramsDropped: 0 };
  readonly #listeners = new Map<number, UdpListener>();
  readonly #log: RelayLog;
  readonly #lingerMs: number;
  readonly #idleMs: number;

  constructor(log: RelayLog, timing: { lingerMs: number; idleMs: number }) {
    this.#log = log;
    this.#lingerMs = timing.lingerMs;
    this.#idleMs = timing.idleMs;
  }

  get ports(): number[] {
    return [...this.#listeners.keys()];
  }

  async park(stream: http2.ServerHttp2Stream, port: number, ctx: FlowContext): Promise<void> {
    let listener = this.#listeners.get(port);
    if (!listener) {
      const created: UdpListener = {
        port,
        socket: undefined,
        parked: [],
        flows: new Map(),
        lingerTimer: undefined,
      };
      listener = created;
      this.#listeners.set(port, created);
      let socket: dgram.Socket;
      try {
        // Both families: a pod of an IPv6-only cluster has no IPv4 address but loopback.
        socket = await bindUdpAllFamilies(port, (msg, from) => this.#onDatagram(created, msg, from));
        if (this.#listeners.get(port) !== created) {
          // Closed while it was being bound.
          socket.close();
          return ctx.release();
        }
        created.socket = socket;
        this.#log.info('inbound UDP listener open', { port });
      } catch (err) {
        this.#listeners.delete(port);
        throw err;
      }
      socket.on('error', (err) => this.#log.debug('inbound udp socket error', { port, error: err.message }));
    }
    if (stream.destroyed) return ctx.release();
    const owner = listener;
    const parked = { stream, ctx };
    clearTimeout(owner.lingerTimer);
    owner.lingerTimer = undefined;
    owner.parked.push(parked);
    stream.additionalHeaders({ ':status': PARKED_STATUS });
    stream.once('close', () => {
      const i = owner.parked.indexOf(parked);
      if (i === -1) return; // a flow owns it now
      owner.parked.splice(i, 1);
      ctx.release();
      this.#maybeLinger(owner);
    });
  }

  close(): void {
    for (const l of this.#listeners.values()) {
      clearTimeout(l.lingerTimer);
      for (const f of l.flows.values()) clearTimeout(f.idle);
      l.socket?.close();
    }
    this.#listeners.clear();
  }

  #onDatagram(listener: UdpListener, msg: Buffer, from: dgram.RemoteInfo): void {
    // The flow's key is also kvpn-peer: IPv4 senders without the dual-stack socket's ::ffff: prefix.
    const key = peerName({ remoteAddress: from.address, remotePort: from.port });
    let flow = listener.flows.get(key);
    if (!flow) {
      const parked = listener.parked.shift();
      if (!parked) {
        this.counters.datagramsDropped++;
        return;
      }
      flow = this.#startFlow(listener, parked, key, from);
    }
    flow.idle.refresh();
    const stream = flow.stream;
    if (stream.destroyed || stream.writableEnded || stream.writableLength > UDP_FLOW_QUEUE_BYTES) {
      this.counters.datagramsDropped++;
      return;
    }
    stream.write(encodeDatagram(msg));
  }

  #startFlow(listener: UdpListener, { stream, ctx }: Parked, key: string, from: dgram.RemoteInfo): Flow {
    this.counters.flowsAccepted++;
    stream.respond({ ':status': 200, [HEADER_PEER]: key });
    const flow: Flow = {
      stream,
      idle: setTimeout(() => {
        ctx.log.debug('idle inbound UDP flow closed', { peer: key });
        if (!stream.writableEnded) stream.end();
        if (!stream.closed) stream.close(NGHTTP2_NO_ERROR);
      }, this.#idleMs),
    };
    listener.flows.set(key, flow);
    const decoder = new DatagramDecoder();
    stream.on('data', (chunk: Buffer) => {
      flow.idle.refresh();
      for (const datagram of decoder.push(chunk)) {
        ctx.counted(0, datagram.length);
        listener.socket?.send(datagram, from.port, from.address);
      }
    });
    stream.on('end', () => {
      if (!stream.writableEnded) stream.end();
    });
    stream.on('close', () => {
      clearTimeout(flow.idle);
      if (listener.flows.get(key) === flow) listener.flows.delete(key);
      ctx.release();
      this.#maybeLinger(listener);
    });
    return flow;
  }

  #maybeLinger(listener: UdpListener): void {
    if (listener.parked.length || listener.flows.size || listener.lingerTimer) return;
    listener.lingerTimer = setTimeout(() => {
      listener.lingerTimer = undefined;
      if (listener.parked.length || listener.flows.size) return;
      this.#listeners.delete(listener.port);
      listener.socket?.close();
      this.#log.info('inbound UDP listener closed: nothing parked', { port: listener.port });
    }, this.#lingerMs);
    listener.lingerTimer.unref();
  }
}
