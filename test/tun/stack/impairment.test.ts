// Byte-exact transfers when packets are lost, reordered, duplicated and
// delayed: the kernel's packets dropped by nftables in the client namespace,
// and both directions impaired by the seeded layer in impair.ts.
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { isRoot } from '../../helpers/netns.js';
import { ImpairedDevice } from './impair.js';
import { kernelWorld, SERVICE_V4, SERVICE_V6 } from './kernel-world.js';
import { collect, transferServer } from './servers.js';

const MIB = 1 << 20;
const CLIENT = fileURLToPath(new URL('./clients/transfer-client.mjs', import.meta.url));
const opts = { skip: !isRoot() && 'needs root (network namespaces, TUN, nftables)', timeout: 180_000 };
/** A stall longer than this means recovery waited on more than a couple of backed-off RTOs. */
const MAX_STALL_MS = 5000;

/** nftables in the world's namespace drops `percent` % of the kernel's packets toward the TUN, at random. */
async function dropTowardTun(w: Awaited<ReturnType<typeof kernelWorld>>, percent: number): Promise<void> {
  const rules = `table inet kvpnloss {
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "${w.device.name}" numgen random mod 100 < ${percent} counter drop
  }
}
`;
  await w.ns.exec('nft', ['-f', '-'], { input: rules });
}

async function transfer(t: Test, w: Awaited<ReturnType<typeof kernelWorld>>, host: string, size: number) {
  const srv = await transferServer(size, 21);
  t.teardown(() => srv.close());
  const done = srv.next();
  let lastProgress = Date.now();
  let maxStall = 0;
  srv.server.on('connection', (s) =>
    s.on('data', () => {
      const now = Date.now();
      maxStall = Math.max(maxStall, now - lastProgress);
      lastProgress = now;
    }),
  );
  const out = await collect(w.ns.spawn(process.execPath, [CLIENT, host, String(srv.port), String(size), '9']));
  const client = JSON.parse(out.stdout);
  t.notOk(client.error, 'client saw no error');
  const server = await done;
  t.equal(server.received, client.sent, `${host}: upload byte-exact`);
  t.equal(client.received, server.sent, `${host}: download byte-exact`);
  t.equal(client.receivedBytes, size);
  t.ok(maxStall < MAX_STALL_MS, `longest upload stall ${maxStall} ms`);
  t.comment(`${host}: 2 × ${size / MIB} MiB in ${client.ms} ms; stack ${JSON.stringify(w.stack.stats.tcp)}`);
}

t.test('nftables drops 5% of the kernel packets toward the TUN', opts, async (t) => {
  const w = await kernelWorld(t);
  await dropTowardTun(w, 5);
  await transfer(t, w, SERVICE_V4, 50 * MIB);
  await transfer(t, w, SERVICE_V6, 20 * MIB);
  const listing = await w.ns.exec('nft', ['list', 'chain', 'inet', 'kvpnloss', 'out']);
  const dropped = Number(/counter packets (\d+)/.exec(listing)?.[1] ?? 0);
  t.ok(dropped > 10, `nftables dropped ${dropped} of the kernel's packets, and every byte still arrived`);
});

t.test('seeded loss, reordering, duplication and delay in both directions', opts, async (t) => {
  let impaired: ImpairedDevice | null = null;
  const profile = { loss: 0.03, duplicate: 0.02, reorder: 0.05, reorderMs: 3, delayMs: 1, jitterMs: 2 };
  const w = await kernelWorld(t, {
    wrap: (d) => {
      impaired = new ImpairedDevice(d, { seed: 42, inbound: profile, outbound: profile });
      return impaired;
    },
  });
  await transfer(t, w, SERVICE_V4, 20 * MIB);
  await transfer(t, w, SERVICE_V6, 10 * MIB);
  const imp = (impaired as unknown as ImpairedDevice).impairment;
  t.comment(JSON.stringify(imp));
  for (const dir of ['inbound', 'outbound'] as const) {
    t.ok(imp[dir].dropped > 0 && imp[dir].duplicated > 0 && imp[dir].reordered > 0, `${dir} impaired`);
  }
  t.ok(w.stack.stats.tcp.retransmits > 0, 'the stack retransmitted what the impairment dropped');
});

// Regression: without SACK, the kernel recovered one hole per round trip here and backed
// off for seconds on lost retransmissions (10 MiB took minutes at MTU 1500 and 2 % loss).
t.test('MTU 1500 (MSS 1460, thousands of segments): nftables drops plus the seeded layer', opts, async (t) => {
  const profile = { loss: 0.02, duplicate: 0.01, reorder: 0.03, reorderMs: 2 };
  const w = await kernelWorld(t, {
    mtu: 1500,
    wrap: (d) => new ImpairedDevice(d, { seed: 7, inbound: profile, outbound: profile }),
  });
  await dropTowardTun(w, 3);
  await transfer(t, w, SERVICE_V4, 10 * MIB);
  const s = w.stack.stats;
  t.ok(s.tcp.fastRetransmits > 0, `fast retransmits ${s.tcp.fastRetransmits}`);
  t.ok(s.tcp.segmentsIn > 7000, `${s.tcp.segmentsIn} segments in`);
});
