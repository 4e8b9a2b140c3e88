// Helper process for `npm run bench -- dns`: the "cluster DNS" the
// forwarded names go to, serving the benchmark zone over DNS-over-TCP on
// loopback, in a process of its own so it does not share the measured
// server's event loop. Prints its port, exits when stdin closes.
import { DnsServer } from '../src/dns/server.js';
import { benchZone } from './dns.js';

const server = new DnsServer({ records: { zone: benchZone() } });
const { port } = await server.listenTcp('127.0.0.1');
process.stdout.write(`${port}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
