// Entry point of an added laptop's system resolver (bundled to
// laptop-upstream-main.mjs; real/added-laptop.ts starts it inside that
// laptop's namespace): the same upstream DNS and web server as the first
// laptop's (network/laptop-upstream.ts), and the laptop's resolv.conf
// pointing at it. Prints READY once both listen; exits when its parent's
// pipe closes or on SIGTERM.
import { LaptopUpstream } from '../network/laptop-upstream.js';

const [netns, clusterDomain] = process.argv.slice(2);
if (!netns || !clusterDomain) throw new Error('usage: laptop-upstream-main.mjs NETNS CLUSTER_DOMAIN');
const upstream = new LaptopUpstream();
const exit = (): void => {
  upstream.close();
  process.exit(0);
};
process.on('SIGTERM', exit);
process.stdin.on('end', exit);
process.stdin.on('error', exit);
process.stdin.resume();
await upstream.start(netns, clusterDomain);
process.stdout.write('READY\n');
