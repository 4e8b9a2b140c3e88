// Manual-clock harness for the TCP core: a fake host and app around one
// TcpConnection, the peer played by the test. `send()` delivers a segment
// from the peer and polls; `expect()` takes the next segment we emitted and
// checks it; `expectNothing()` asserts silence; `advance()` moves the clock
// and fires due timers. No sleeps, no sockets.
import type { Test } from 'tap';
import { parseIp } from '../../../../src/net/ip.js';
import { createStackStats, type StackStats } from '../../../../src/tun/stack/stats.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig } from '../../../../src/tun/stack/tcp/config.js';
import { TcpConnection } from '../../../../src/tun/stack/tcp/connection.js';
import type { TcpApp, TcpCloseReason, TcpHost } from '../../../../src/tun/stack/tcp/host.js';
import { TcpState } from '../../../../src/tun/stack/tcp/state.js';
import { Ipv4Packet } from '../../../../src/tun/wire/ipv4.js';
import { buildTcpPacket } from '../../../../src/tun/wire/packet-builder.js';
import { TcpControl, TcpFlag, TcpPacket, TcpRepr } from '../../../../src/tun/wire/tcp.js';

export const APP = parseIp('10.0.0.2') as Uint8Array;
export const SERVICE = parseIp('10.200.0.7') as Uint8Array;
export const APP_PORT = 40000;
export const SERVICE_PORT = 80;
export const PEER_ISS = 1000;
export const OUR_ISS = 5000;

export interface SegSpec {
  /** Any of S A F R P. */
  flags: string;
  seq?: number;
  ack?: number;
  window?: number;
  data?: string | Uint8Array;
  mss?: number;
  ws?: number;
  /** SACK blocks [left, right) to carry. */
  sack?: [number, number][];
}

export interface Emitted {
  flags: string;
  seq: number;
  ack: number;
  window: number;
  data: Buffer;
  repr: TcpRepr;
}

function flagsOf(r: TcpRepr): string {
  let f = '';
  if (r.control === TcpControl.Syn) f += 'S';
  if (r.control === TcpControl.Fin) f += 'F';
  if (r.control === TcpControl.Rst) f += 'R';
  if (r.control === TcpControl.Psh) f += 'P';
  if (r.hasAck) f += 'A';
  return f;
}

export class TcpHarness implements TcpHost, TcpApp {
  readonly stats: StackStats = createStackStats();
  readonly budget = { used: 0, limit: 1 << 24 };
  readonly scratch = new TcpRepr();
  readonly logs: string[] = [];
  readonly log = (m: string) => void this.logs.push(m);
  readonly out: Uint8Array[] = [];
  readonly received: Buffer[] = [];
  now = 0;
  peerFin = false;
  closedReason: TcpCloseReason | null = null;
  sendSpaceEvents = 0;
  conn!: TcpConnection;
  readonly t: Test;
  readonly config: TcpConfig;

  constructor(t: Test, config: Partial<TcpConfig> = {}) {
    this.t = t;
    this.config = { ...DEFAULT_TCP_CONFIG, ...config };
  }

  // TcpHost
  output(packet: Uint8Array): void {
    this.out.push(packet);
  }
  timerChanged(): void {}
  enteredTimeWait(): void {}
  connectionClosed(_conn: TcpConnection, reason: TcpCloseReason): void {
    this.closedReason = reason;
  }
  // TcpApp
  onData(data: Uint8Array): void {
    this.received.push(Buffer.from(data));
  }
  onPeerFin(): void {
    this.peerFin = true;
  }
  onSendSpace(): void {
    this.sendSpaceEvents++;
  }
  onClosed(reason: TcpCloseReason): void {
    this.closedReason = reason;
  }

  get receivedText(): string {
    return Buffer.concat(this.received).toString();
  }

  /** The connection as the forwarder creates it after a successful dial. */
  open(syn: { window?: number; mss?: number; ws?: number; sack?: boolean } = {}): TcpConnection {
    this.conn = new TcpConnection(
      { localAddr: SERVICE, localPort: SERVICE_PORT, remoteAddr: APP, remotePort: APP_PORT },
      {
        seq: PEER_ISS,
        window: syn.window ?? 65535,
        mss: syn.mss ?? 1460,
        windowScale: syn.ws ?? -1,
        sackPermitted: syn.sack ?? false,
      },
      OUR_ISS,
      this.config,
      this,
    );
    this.conn.app = this;
    this.conn.poll(this.now);
    return this.conn;
  }

  /** A segment from the peer (the app's kernel); then the connection polls. */
  send(spec: SegSpec): void {
    const r = new TcpRepr();
    r.srcPort = APP_PORT;
    r.dstPort = SERVICE_PORT;
    r.seqNumber = spec.seq ?? PEER_ISS + 1;
    r.hasAck = spec.flags.includes('A');
    r.ackNumber = spec.ack ?? 0;
    r.windowLen = spec.window ?? 65535;
    r.control = spec.flags.includes('S')
      ? TcpControl.Syn
      : spec.flags.includes('F')
        ? TcpControl.Fin
        : spec.flags.includes('R')
          ? TcpControl.Rst
          : spec.flags.includes('P')
            ? TcpControl.Psh
            : TcpControl.None;
    if (spec.mss) r.maxSegSize = spec.mss;
    if (spec.ws !== undefined) r.windowScale = spec.ws;
    if (spec.sack) {
      r.sackCount = spec.sack.length;
      for (const [i, [l, rr]] of spec.sack.entries()) r.sackRanges.set([l, rr], 2 * i);
    }
    const data = typeof spec.data === 'string' ? Buffer.from(spec.data) : (spec.data ?? null);
    const pkt = buildTcpPacket(APP, SERVICE, r, data);
    const seg = pkt.subarray(20);
    const parsed = new TcpRepr();
    if (parsed.parseFrom(new TcpPacket(seg), APP, SERVICE) !== 0) throw new Error('harness built a bad segment');
    this.conn.onSegment(parsed, seg, this.now);
    this.conn.poll(this.now);
  }

  /** Moves the clock; fires the timer if due, then polls. */
  advance(ms: number): void {
    this.now += ms;
    if (this.now >= this.conn.deadline) this.conn.onTimer(this.now);
    this.conn.poll(this.now);
  }

  /** Tells the connection the dialer consumed everything. */
  drainApp(): void {
    this.conn.setAppBacklog(0);
    this.conn.poll(this.now);
  }

  next(): Emitted | undefined {
    const pkt = this.out.shift();
    if (!pkt) return undefined;
    const ip = new Ipv4Packet(pkt);
    const r = new TcpRepr();
    const res = r.parseFrom(new TcpPacket(ip.payload), SERVICE, APP);
    if (res !== 0) throw new Error(`we emitted an unparsable segment (${res})`);
    return {
      flags: flagsOf(r),
      seq: r.seqNumber,
      ack: r.ackNumber,
      window: r.windowLen,
      data: Buffer.from(ip.payload.subarray(r.payloadOffset)),
      repr: r,
    };
  }

  /** Takes the next emitted segment and checks the given fields. */
  expect(spec: Partial<Omit<Emitted, 'data' | 'repr'>> & { data?: string; len?: number }, msg = ''): Emitted {
    const got = this.next();
    this.t.ok(got, `${msg} expected a segment ${JSON.stringify(spec)}`);
    if (!got) return { flags: '', seq: 0, ack: 0, window: 0, data: Buffer.alloc(0), repr: new TcpRepr() };
    const actual: Record<string, unknown> = {};
    const wanted: Record<string, unknown> = {};
    for (const k of ['flags', 'seq', 'ack', 'window'] as const) {
      if (spec[k] !== undefined) {
        actual[k] = got[k];
        wanted[k] = spec[k];
      }
    }
    if (spec.data !== undefined) {
      actual.data = got.data.toString();
      wanted.data = spec.data;
    }
    if (spec.len !== undefined) {
      actual.len = got.data.length;
      wanted.len = spec.len;
    }
    this.t.same(actual, wanted, msg || `segment ${JSON.stringify(wanted)}`);
    return got;
  }

  expectNothing(msg = 'nothing sent'): void {
    const got = this.next();
    this.t.equal(
      got,
      undefined,
      got ? `${msg}: got ${got.flags} seq=${got.seq} ack=${got.ack} len=${got.data.length}` : msg,
    );
  }

  get state(): string {
    return this.conn.stateName;
  }
}

/**
 * A connection already in `state`, every segment so far consumed. The
 * peer's next sequence number is PEER_ISS+1 (plus 1 after its FIN); ours is
 * OUR_ISS+1 (plus 1 after our FIN).
 */
export function connectionIn(
  t: Test,
  state:
    | 'SYN-RECEIVED'
    | 'ESTABLISHED'
    | 'FIN-WAIT-1'
    | 'FIN-WAIT-2'
    | 'CLOSE-WAIT'
    | 'LAST-ACK'
    | 'CLOSING'
    | 'TIME-WAIT',
  config: Partial<TcpConfig> = {},
  syn: { sack?: boolean } = {},
): TcpHarness {
  const h = new TcpHarness(t, config);
  h.open(syn);
  h.next(); // SYN-ACK
  if (state === 'SYN-RECEIVED') return h;
  h.send({ flags: 'A', seq: PEER_ISS + 1, ack: OUR_ISS + 1 });
  h.out.length = 0; // the window update that follows the unscaled SYN-ACK window
  const us = OUR_ISS + 1;
  const peer = PEER_ISS + 1;
  switch (state) {
    case 'FIN-WAIT-1':
      h.conn.close();
      h.conn.poll(h.now);
      h.next(); // our FIN
      break;
    case 'FIN-WAIT-2':
      h.conn.close();
      h.conn.poll(h.now);
      h.next();
      h.send({ flags: 'A', seq: peer, ack: us + 1 });
      break;
    case 'CLOSING':
      h.conn.close();
      h.conn.poll(h.now);
      h.next();
      h.send({ flags: 'FA', seq: peer, ack: us });
      h.next(); // our ACK of their FIN
      break;
    case 'TIME-WAIT':
      h.conn.close();
      h.conn.poll(h.now);
      h.next();
      h.send({ flags: 'FA', seq: peer, ack: us + 1 });
      h.next();
      break;
    case 'CLOSE-WAIT':
      h.send({ flags: 'FA', seq: peer, ack: us });
      h.next();
      break;
    case 'LAST-ACK':
      h.send({ flags: 'FA', seq: peer, ack: us });
      h.next();
      h.conn.close();
      h.conn.poll(h.now);
      h.next(); // our FIN
      break;
    default:
      break;
  }
  t.equal(h.state, state, `factory reached ${state}`);
  t.equal(h.out.length, 0, 'factory consumed every segment');
  return h;
}

export { TcpFlag, TcpState };
