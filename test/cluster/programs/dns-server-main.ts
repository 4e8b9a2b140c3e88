// Entry point of the cluster DNS "image" (bundled to dns-server.mjs):
// serves the zone file the world keeps up to date, on port 53 of the pod.
import { DnsServer } from '../dns/server.js';

const zonePath = process.env.KVPN_DNS_ZONE ?? '/etc/coredns/zone/zone.json';
const server = new DnsServer({ zones: [], ttl: 5, outside: 'SERVFAIL', records: {} });
await server.follow(zonePath);
await server.listen('0.0.0.0', Number(process.env.KVPN_DNS_PORT ?? 53));
process.stdout.write(`.:53\nCoreDNS-1.11.3 (kvpn test world)\nlinux/amd64, ${process.version}\n`);
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
