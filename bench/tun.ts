// `npm run bench -- tun`: how fast the addon drains packets from a TUN.
//
// Inside a namespace of its own, a sender process sends UDP datagrams to an
// address routed into the TUN (nftables `dup` rules make the kernel queue each
// one DUP_COPIES more times). Reading is paused while the queue fills, then the
// sender is stopped and we time how fast the addon empties the queue: the
// drain rate, which is what the stack sees under load. The reader touches
// every packet's header, as the stack's first step does.
import { openTun } from '../src/tun/device.js';
import { LinuxRouteTable } from '../src/tun/routes-linux.js';
import { NetNs } from '../test/helpers/netns.js';
import type { BenchReport } from './report.js';

const DURATION_MS = Number(process.env.KVPN_BENCH_TUN_MS ?? 3000);
const DUP_COPIES = Number(process.env.KVPN_BENCH_TUN_DUPS ?? 31);
const SENDER = `
const s = require('dgram').createSocket('udp4');
const size = Number(process.argv[1]);
const buf = Buffer.alloc(size, 120);
s.connect(9, '10.201.9.9', () => {
  let inflight = 0;
  const pump = () => { while (inflight < 256) { inflight++; s.send(buf, () => { inflight--; if (inflight < 128) setImmediate(pump); }); } };
  pump();
});`;

interface Measurement {
  mtu: number;
  payload: number;
  packetsPerSecond: number;
  megabytesPerSecond: number;
  averageBatch: number;
  packetsMeasured: number;
}

async function measure(mtu: number, payload: number): Promise<Measurement> {
  const ns = await NetNs.create(undefined, 'kb');
  const dev = await openTun({ name: 'kvpnb0', mtu, netnsPath: ns.path });
  try {
    const routes = new LinuxRouteTable({ netns: ns.name });
    await ns.ip('link', 'set', 'kvpnb0', 'txqueuelen', '50000');
    await routes.configureLink('kvpnb0', { mtu, addresses: ['10.201.0.1/32'] });
    await routes.addRoute('10.201.0.0/16', 'kvpnb0');
    const rules = ['add table ip bench', 'add chain ip bench out { type filter hook output priority 0; }'];
    for (let i = 0; i < DUP_COPIES; i++)
      rules.push('add rule ip bench out ip daddr 10.201.9.9 dup to 10.201.9.9 device "kvpnb0"');
    await ns.exec('nft', ['-f', '-'], { input: `${rules.join('\n')}\n` });

    // Cycles: with reading paused the sender fills the TUN queue; then the
    // sender is stopped and the time to drain the queue is measured.
    let packets = 0;
    let bytes = 0;
    let batches = 0;
    let checksum = 0;
    let onEmpty: (() => void) | undefined;
    dev.onPackets((batch) => {
      batches++;
      for (const p of batch) {
        packets++;
        bytes += p.length;
        checksum ^= p[9] ?? 0; // read the protocol byte as a parser would
      }
      if (batch.length < 64) onEmpty?.();
    });
    dev.pause();
    const sender = ns.spawn(process.execPath, ['-e', SENDER, String(payload)], { stdio: 'ignore' });
    let drainedPackets = 0;
    let drainedBytes = 0;
    let drainedBatches = 0;
    let drainNs = 0n;
    try {
      const deadline = Date.now() + DURATION_MS;
      while (Date.now() < deadline) {
        sender.kill('SIGCONT');
        await new Promise((r) => setTimeout(r, 250));
        sender.kill('SIGSTOP');
        await new Promise((r) => setTimeout(r, 20));
        const p0 = packets;
        const b0 = bytes;
        const n0 = batches;
        const emptied = new Promise<void>((r) => {
          onEmpty = r;
        });
        const t0 = process.hrtime.bigint();
        dev.resume();
        await emptied;
        drainNs += process.hrtime.bigint() - t0;
        dev.pause();
        onEmpty = undefined;
        drainedPackets += packets - p0;
        drainedBytes += bytes - b0;
        drainedBatches += batches - n0;
      }
    } finally {
      sender.kill('SIGKILL');
    }
    void checksum;
    const seconds = Number(drainNs) / 1e9;
    return {
      mtu,
      payload,
      packetsPerSecond: Math.round(drainedPackets / seconds),
      megabytesPerSecond: Math.round((drainedBytes / seconds / 1e6) * 10) / 10,
      averageBatch: Math.round((drainedPackets / Math.max(1, drainedBatches)) * 10) / 10,
      packetsMeasured: drainedPackets,
    };
  } finally {
    dev.close();
    await ns.remove();
  }
}

export async function run(_args: string[]): Promise<BenchReport> {
  const results = [await measure(1500, 64), await measure(1500, 1472), await measure(65520, 65000)];
  return {
    name: 'tun: packets drained from the TUN by the addon (64-packet batches)',
    table: {
      columns: ['MTU', 'datagram bytes', 'packets/s drained', 'MB/s', 'packets per wake-up', 'packets measured'],
      rows: results.map((r) => [
        r.mtu,
        r.payload,
        r.packetsPerSecond,
        r.megabytesPerSecond,
        r.averageBatch,
        r.packetsMeasured,
      ]),
    },
    figures: { durationMs: DURATION_MS, results, targetPacketsPerSecondMtu1500: 1_000_000 },
    notes: [
      `Drain rate of a filled TUN queue (txqueuelen 50000), over ${DURATION_MS} ms of fill/drain cycles; target ≥ 1,000,000 packets/s at MTU 1500.`,
    ],
  };
}
