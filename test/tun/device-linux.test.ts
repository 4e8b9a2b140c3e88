// The TUN addon against the real kernel, inside a namespace made per test.
import t, { type Test } from 'tap';
import { parseIp } from '../../src/net/ip.js';
import { openTun, type TunDevice } from '../../src/tun/device.js';
import { LinuxRouteTable } from '../../src/tun/routes-linux.js';
import { IpProtocol } from '../../src/tun/wire/ip.js';
import { Ipv4Packet } from '../../src/tun/wire/ipv4.js';
import { buildUdpPacket } from '../../src/tun/wire/packet-builder.js';
import { UdpPacket } from '../../src/tun/wire/udp.js';
import { isRoot, NetNs } from '../helpers/netns.js';

if (!isRoot()) {
  t.plan(0, 'needs root for network namespaces');
  process.exit(0);
}

async function tunInNamespace(t: Test, mtu = 1500): Promise<{ ns: NetNs; dev: TunDevice; routes: LinuxRouteTable }> {
  const ns = await NetNs.create(t);
  const dev = await openTun({ name: 'kvpn0', mtu, netnsPath: ns.path });
  t.teardown(() => dev.close());
  const routes = new LinuxRouteTable({ netns: ns.name });
  await routes.configureLink(dev.name, { mtu, addresses: ['10.201.0.1/32'] });
  await routes.addRoute('10.201.0.0/16', dev.name);
  return { ns, dev, routes };
}

function firstPacket(dev: TunDevice, match: (p: Uint8Array) => boolean): Promise<Uint8Array> {
  return new Promise((resolve) => {
    dev.onPackets((batch) => {
      for (const p of batch) if (match(p)) resolve(Uint8Array.from(p)); // copy: views die after the callback
    });
  });
}

const isUdpTo = (port: number) => (p: Uint8Array) => {
  const ip = new Ipv4Packet(p);
  if (ip.checkLen() !== 0 || ip.version !== 4 || ip.protocol !== IpProtocol.Udp) return false;
  const udp = new UdpPacket(ip.payload);
  return udp.checkLen() === 0 && udp.dstPort === port;
};

t.test('a datagram routed into the TUN is read by the addon with its IP and UDP fields', async (t) => {
  const { ns, dev } = await tunInNamespace(t);
  t.equal(dev.name, 'kvpn0');
  t.match(
    await ns.ip('-o', 'link', 'show', 'kvpn0'),
    /kvpn0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1500 .* qlen 10000/,
  );
  const packet = firstPacket(dev, isUdpTo(9999));
  await ns.exec('bash', ['-c', 'exec 3>/dev/udp/10.201.0.5/9999; printf hello-kvpn >&3']);
  const p = await packet;
  const view = new DataView(p.buffer);
  t.equal((p[0] ?? 0) >> 4, 4, 'IPv4');
  t.equal(view.getUint16(2), p.length, 'total length is the packet length');
  t.equal([...p.subarray(12, 16)].join('.'), '10.201.0.1', 'source: the link address');
  t.equal([...p.subarray(16, 20)].join('.'), '10.201.0.5', 'destination: the routed address');
  t.equal(view.getUint16(24), 8 + 10, 'UDP length');
  t.equal(Buffer.from(p.subarray(28)).toString(), 'hello-kvpn');
  t.equal(dev.stats.packetsRead >= 1, true);
});

t.test('close is idempotent, releases the fd (the link disappears) and later writes are counted drops', async (t) => {
  const { ns, dev } = await tunInNamespace(t);
  dev.close();
  dev.close();
  t.notMatch(await ns.ip('-o', 'link', 'show'), /kvpn0/, 'a non-persistent TUN goes with its fd');
  t.equal(dev.writeBatch([new Uint8Array(20)]), false);
  t.equal(dev.stats.writeDropped, 1);
});

t.test('opening errors carry a code and a remedy', async (t) => {
  const ns = await NetNs.create(t);
  await t.rejects(openTun({ name: 'a-name-longer-than-15', netnsPath: ns.path }), {
    code: 'KVPN_ERR_TUN_UNAVAILABLE',
    message: /longer than 15 bytes/,
  });
  await t.rejects(openTun({ netnsPath: '/run/netns/does-not-exist' }), {
    code: 'KVPN_ERR_TUN_UNAVAILABLE',
    message: /cannot enter the network namespace/,
  });
  const first = await openTun({ name: 'kvpn7', netnsPath: ns.path });
  t.teardown(() => first.close());
  await t.rejects(openTun({ name: 'kvpn7', netnsPath: ns.path }), {
    code: 'KVPN_ERR_TUN_UNAVAILABLE',
    message: /already in use/,
    remedy: /another kvpn session/,
  });
  await t.rejects(openTun({ mtu: 100 }), { code: 'KVPN_ERR_TUN_UNAVAILABLE', message: /invalid MTU/ });
});

t.test('routes: listed, removed idempotently, link deleted idempotently', async (t) => {
  const { routes } = await tunInNamespace(t);
  const mine = (await routes.listRoutes()).filter((r) => r.device === 'kvpn0' && r.family === 4);
  t.same(
    mine.map((r) => r.destination),
    ['10.201.0.0/16'],
  );
  await routes.addRoute('fd00:10::/64', 'kvpn0');
  t.ok((await routes.listRoutes()).some((r) => r.destination === 'fd00:10::/64' && r.family === 6));
  await routes.removeRoute('10.201.0.0/16', 'kvpn0');
  await routes.removeRoute('10.201.0.0/16', 'kvpn0');
  t.notOk((await routes.listRoutes()).some((r) => r.destination === '10.201.0.0/16'));
  await t.rejects(routes.addRoute('10.300.0.0/16', 'kvpn0'), { code: 'KVPN_ERR_ROUTE' });
  t.equal(await routes.linkExists('kvpn0'), true);
  await routes.deleteLink('kvpn0');
  await routes.deleteLink('kvpn0');
  t.equal(await routes.linkExists('kvpn0'), false);
});

t.test('a packet written through the addon with our checksums is accepted by the kernel', async (t) => {
  const { ns, dev, routes } = await tunInNamespace(t);
  await routes.configureLink(dev.name, { mtu: 1500, addresses: ['10.201.0.1/32', 'fd00:201::1/128'] });
  await routes.addRoute('fd00:201::/64', dev.name);
  // A UDP listener inside the namespace: the kernel is the judge of our checksums.
  const listener = ns.spawn(process.execPath, [
    '-e',
    `const d = require('dgram');
     let n = 0;
     for (const [type, addr] of [['udp4', '10.201.0.1'], ['udp6', 'fd00:201::1']]) {
       const s = d.createSocket(type);
       s.on('message', (m, r) => { console.log(type + ' ' + r.address + ':' + r.port + ' ' + m.toString()); if (++n === 2) process.exit(0); });
       s.bind(7777, addr, () => { if (type === 'udp6') console.log('ready'); });
     }`,
  ]);
  t.teardown(() => listener.kill('SIGKILL'));
  const lines: string[] = [];
  let onLine: (() => void) | undefined;
  listener.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    lines.push(...chunk.split('\n').filter(Boolean));
    onLine?.();
  });
  const waitFor = (n: number) =>
    new Promise<void>((resolve) => {
      onLine = () => lines.length >= n && resolve();
      onLine();
    });
  await waitFor(1);
  t.equal(lines[0], 'ready');
  const v4 = buildUdpPacket(
    parseIp('10.201.3.4') as Uint8Array,
    parseIp('10.201.0.1') as Uint8Array,
    4242,
    7777,
    Buffer.from('from-the-tun-v4'),
  );
  const v6 = buildUdpPacket(
    parseIp('fd00:201::9') as Uint8Array,
    parseIp('fd00:201::1') as Uint8Array,
    4243,
    7777,
    Buffer.from('from-the-tun-v6'),
  );
  t.equal(dev.writeBatch([v4, v6]), true, 'the kernel took the whole batch');
  await waitFor(3);
  t.same(lines.slice(1).sort(), ['udp4 10.201.3.4:4242 from-the-tun-v4', 'udp6 fd00:201::9:4243 from-the-tun-v6']);
  t.equal(dev.stats.packetsWritten, 2);

  // A corrupted checksum is dropped by the kernel: the same bytes with one flipped.
  const bad = Uint8Array.from(v4);
  bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0xff;
  t.equal(dev.writeBatch([bad]), true);
  const counters = await ns.exec('cat', ['/proc/net/snmp']);
  const udp = counters.split('\n').filter((l) => l.startsWith('Udp:'));
  const header = udp[0]?.split(/\s+/) ?? [];
  const values = udp[1]?.split(/\s+/) ?? [];
  t.equal(Number(values[header.indexOf('InCsumErrors')]), 1, 'the kernel counted our one bad checksum');
});
