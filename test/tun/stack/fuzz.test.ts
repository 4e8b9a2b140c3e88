// Random and mutated segments against live connections — bad data offsets,
// illegal flags, out-of-window sequence numbers, truncations, SYN floods —
// never crash the stack, and every packet is counted exactly once: either
// taken in by TCP/UDP/ICMP or dropped under a named reason.
import { Duplex } from 'node:stream';
import t from 'tap';
import { parseIp } from '../../../src/net/ip.js';
import { DialError, type Dialer } from '../../../src/tun/stack/dialer.js';
import { Stack } from '../../../src/tun/stack/stack.js';
import { buildTcpPacket, buildUdpPacket } from '../../../src/tun/wire/packet-builder.js';
import { TcpControl, TcpFlag, TcpPacket, TcpRepr } from '../../../src/tun/wire/tcp.js';
import { seededRandom } from './impair.js';
import { MemoryDevice } from './memory-device.js';

const ITERATIONS = 200_000;
const APP = parseIp('10.0.0.2') as Uint8Array;
const SVC = parseIp('10.200.0.5') as Uint8Array;
const APP6 = parseIp('fd00:c9::1') as Uint8Array;
const SVC6 = parseIp('fd00:c8::5') as Uint8Array;

/** A stream that swallows writes and says nothing: the dialer's side of each connection. */
function sink(): Duplex {
  return new Duplex({
    read() {},
    write(_chunk, _enc, cb) {
      cb();
    },
  });
}

function seg(fields: Partial<TcpRepr> & { control?: number }, payload: Uint8Array | null, v6 = false): Uint8Array {
  const r = new TcpRepr();
  r.srcPort = fields.srcPort ?? 40000;
  r.dstPort = fields.dstPort ?? 80;
  r.seqNumber = fields.seqNumber ?? 1000;
  r.ackNumber = fields.ackNumber ?? 0;
  r.hasAck = fields.hasAck ?? false;
  r.control = (fields.control ?? TcpControl.None) as TcpRepr['control'];
  r.windowLen = fields.windowLen ?? 65535;
  r.maxSegSize = fields.maxSegSize ?? 0;
  r.windowScale = fields.windowScale ?? -1;
  return v6 ? buildTcpPacket(APP6, SVC6, r, payload) : buildTcpPacket(APP, SVC, r, payload);
}

t.test(`${ITERATIONS.toLocaleString()} hostile packets: no crash, every one counted`, async (t) => {
  const rand = seededRandom(7);
  const int = (n: number) => Math.floor(rand() * n);
  const device = new MemoryDevice();
  const dialer: Dialer = {
    // Port 80 connects, port 81 is refused, anything else hangs (a SYN flood target).
    dialTcp: (req) =>
      req.destination.port === 80
        ? Promise.resolve(sink())
        : req.destination.port === 81
          ? Promise.reject(new DialError('refused', 'no'))
          : new Promise((_, reject) =>
              req.signal.addEventListener('abort', () => reject(new DialError('error', 'aborted'))),
            ),
    openUdp: () => Promise.reject(new DialError('unreachable', 'no udp')),
  };
  const stack = new Stack(device, dialer, {
    maxPendingDials: 64,
    maxConnections: 512,
    maxUdpFlows: 32,
    addresses: ['10.200.0.1'],
  });
  stack.start();
  t.teardown(() => stack.close());

  // A few live connections on both families for the mutations to hit.
  const live: { port: number; v6: boolean; iss: number }[] = [];
  for (let i = 0; i < 8; i++) live.push({ port: 50000 + i, v6: i % 2 === 1, iss: 0 });
  device.inject(
    live.map((l) => seg({ srcPort: l.port, control: TcpControl.Syn, maxSegSize: 1460, windowScale: 7 }, null, l.v6)),
  );
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.equal(stack.connectionCount, 8, 'eight connections dialed');
  // Complete each handshake with the ISS from our SYN-ACK.
  const acks: Uint8Array[] = [];
  for (const pkt of device.written.splice(0)) {
    const v6 = (pkt[0] as number) >> 4 === 6;
    const tcp = new TcpPacket(pkt.subarray(v6 ? 40 : 20));
    const l = live.find((x) => x.port === tcp.dstPort && x.v6 === v6);
    if (!l || tcp.flags !== (TcpFlag.SYN | TcpFlag.ACK)) continue;
    l.iss = tcp.seqNumber;
    acks.push(seg({ srcPort: l.port, seqNumber: 1001, hasAck: true, ackNumber: (l.iss + 1) >>> 0 }, null, v6));
  }
  device.inject(acks);
  t.equal(acks.length, 8, 'eight handshakes completed');

  const templates = (): Uint8Array => {
    const l = live[int(live.length)] as (typeof live)[number];
    const near = 1001 + int(3) * 1000 - 1000;
    switch (int(8)) {
      case 0: // SYN flood from random ports to a hanging dial
        return seg({ srcPort: 1024 + int(60000), dstPort: 82, control: TcpControl.Syn }, null);
      case 1: // in-window-ish data on a live connection
        return seg(
          {
            srcPort: l.port,
            seqNumber: near + int(100000),
            hasAck: true,
            ackNumber: rand() < 0.7 ? (l.iss + 1 + int(3)) >>> 0 : int(2 ** 32),
            windowLen: int(65536),
          },
          new Uint8Array(int(2000)),
          l.v6,
        );
      case 2: // RST with a random sequence number
        return seg({ srcPort: l.port, seqNumber: int(2 ** 32), control: TcpControl.Rst }, null, l.v6);
      case 3: // FIN anywhere
        return seg({ srcPort: l.port, seqNumber: int(2 ** 32), hasAck: true, control: TcpControl.Fin }, null, l.v6);
      case 4: // segment for no connection
        return seg({ srcPort: int(65536) || 1, dstPort: 81, hasAck: rand() < 0.5, ackNumber: int(2 ** 32) }, null);
      case 5: // UDP
        return buildUdpPacket(APP, SVC, 1 + int(65535), 53, new Uint8Array(int(100)));
      case 6: // refused dials
        return seg({ srcPort: 1024 + int(60000), dstPort: 81, control: TcpControl.Syn }, null);
      default: // raw noise that looks like IP
        return Uint8Array.from({ length: int(120) }, (_, i) => (i === 0 ? (rand() < 0.5 ? 0x45 : 0x60) : int(256)));
    }
  };

  let fed = live.length + acks.length;
  for (let i = 0; i < ITERATIONS; i += 64) {
    const batch: Uint8Array[] = [];
    for (let k = 0; k < 64; k++) {
      let p = templates();
      const mode = int(4);
      if (mode === 0) {
        // Flip bytes in the headers: offsets, flags, lengths, ports.
        p = p.slice();
        for (let f = 1 + int(3); f > 0; f--) {
          const at = int(Math.min(p.length, 80));
          p[at] = int(256);
        }
      } else if (mode === 1) {
        p = p.subarray(0, int(p.length + 1));
      }
      batch.push(p);
    }
    fed += batch.length;
    device.inject(batch);
    if (i % 4096 === 0) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setImmediate(r));

  const s = stack.stats;
  const wire = s.drops.truncated + s.drops.malformed + s.drops.checksum + s.drops.unsupported;
  const accounted =
    wire + s.tcp.segmentsIn + s.udp.datagramsFromApp + s.drops.udpFlowLimit + s.drops.icmpIgnored + s.icmp.echoReplies;
  t.equal(s.packetsIn, fed, 'every packet entered');
  t.equal(accounted, fed, 'every packet counted exactly once at the first layer');
  t.ok(s.drops.pendingDialLimit > 0, `SYN flood bounded (${s.drops.pendingDialLimit} refused)`);
  t.ok(s.tcp.pendingDials <= 64, 'pending dials within bound');
  t.ok(stack.connectionCount <= 512, 'connections within bound');
  t.ok(s.drops.outOfWindow > 0 && s.drops.noConnection > 0 && s.drops.malformed > 0 && s.drops.truncated > 0);
  t.ok(s.dialErrors.refused > 0 && s.tcp.resetsSent > 0);
  t.ok(s.tcp.bytesFromApp > 0, 'some data got through to the live connections');
  t.comment(JSON.stringify({ drops: s.drops, tcp: s.tcp, dialErrors: s.dialErrors }));
});
