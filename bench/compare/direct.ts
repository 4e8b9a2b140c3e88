// The `direct` arm of `npm run bench -- compare`: the laptop routed
// straight into the cluster, no tunnel — the physical ceiling.
//   stand-in  a veth from the laptop namespace into the nodes' fabric bridge
//             (as if the laptop sat on the nodes' L2)
//   real      the laptop already shares a link with its node (eth0
//             172.18.0.1 ── 172.18.0.2), which carries only API traffic
//             until this arm routes the cluster's ranges over it
// Either way: routes to the pod /24s via their nodes and to the Service CIDR
// via node 0, which masquerades what it DNATs for the laptop (kube-proxy
// does the same for traffic from outside the cluster; the real world's
// kube-proxy runs with masqueradeAll and does it already — the table keeps
// both worlds alike). Everything is removed after the arm.
import { LAPTOP_IP } from '../../test/cluster/real/layout.js';
import { type Arm, serviceTargets } from './arms.js';
import type { Cleanup } from './cleanup.js';
import type { BenchWorld } from './world.js';

const DIRECT_LINK = 'kvbench0';
const DIRECT_PEER = 'kvbench0f';
const DIRECT_ADDRESS = '172.18.0.250';
const DIRECT_NFT_TABLE = 'kvpn-bench-direct';

/** The stand-in's veth into its fabric bridge; the routes go with the link. Returns the laptop's source address. */
async function standInLink(
  world: BenchWorld,
  cleanup: Cleanup,
): Promise<{ source: string; undo: () => Promise<void> }> {
  const undo = cleanup.add('direct: veth', () => world.laptopRun('ip', ['link', 'del', DIRECT_LINK]).catch(() => {}));
  const fabric = `${world.cluster.id}-fabric`;
  await world.laptopRun('ip', [
    'link',
    'add',
    DIRECT_LINK,
    'type',
    'veth',
    'peer',
    'name',
    DIRECT_PEER,
    'netns',
    fabric,
  ]);
  await world.nodeRun(fabric, 'ip', ['link', 'set', DIRECT_PEER, 'master', 'br0', 'up']);
  await world.laptopRun('ip', ['addr', 'add', `${DIRECT_ADDRESS}/24`, 'dev', DIRECT_LINK]);
  await world.laptopRun('ip', ['link', 'set', DIRECT_LINK, 'up']);
  return { source: DIRECT_ADDRESS, undo };
}

export async function startDirect(world: BenchWorld, cleanup: Cleanup): Promise<Arm> {
  const nodes = await world.cluster.nodes();
  const node0 = nodes[0];
  if (!node0) throw new Error('no nodes');
  const routes = [[world.cluster.serviceCidr, node0.ip], ...nodes.map((n) => [n.podCidr, n.ip])] as [string, string][];
  const link = world.kind === 'real' ? undefined : await standInLink(world, cleanup);
  // The real world's routes sit on its eth0, which stays: they are removed one by one.
  const undoRoutes = cleanup.add('direct: laptop routes', async () => {
    if (link) return;
    for (const [cidr, via] of routes) await world.laptopRun('ip', ['route', 'del', cidr, 'via', via]).catch(() => {});
  });
  for (const [cidr, via] of routes) await world.laptopRun('ip', ['route', 'add', cidr, 'via', via]);
  const undoNft = cleanup.add('direct: nft table in node 0', () =>
    world.nodeRun(node0.netns, 'nft', ['delete', 'table', 'ip', DIRECT_NFT_TABLE]).catch(() => {}),
  );
  await world.nodeRun(
    node0.netns,
    'nft',
    ['-f', '-'],
    `table ip ${DIRECT_NFT_TABLE} {\n  chain postrouting {\n    type nat hook postrouting priority srcnat + 1; policy accept;\n    ip saddr ${link?.source ?? LAPTOP_IP} ct status dnat masquerade\n  }\n}\n`,
  );
  return {
    name: 'direct',
    targets: serviceTargets(world),
    pids: () => [],
    stop: async () => {
      await undoNft();
      await undoRoutes();
      await link?.undo();
    },
  };
}
