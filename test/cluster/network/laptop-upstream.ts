// The laptop's "system resolver" (an upstream DNS that knows one test name,
// not the cluster's) and a web server for that name, inside the laptop
// namespace, plus the laptop's resolv.conf pointing at it. Both worlds have it.
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { DnsServer } from '../dns/server.js';
import { UPSTREAM_DNS_IP, UPSTREAM_TEST_IP, UPSTREAM_TEST_NAME } from '../world-config.js';

export class LaptopUpstream {
  dns: DnsServer | undefined;
  #http: HttpServer | undefined;

  /** Call from a process inside the laptop namespace. */
  async start(laptopNetns: string, clusterDomain: string): Promise<void> {
    this.dns = new DnsServer({
      zones: ['test'],
      ttl: 60,
      outside: 'NXDOMAIN',
      records: {
        [UPSTREAM_TEST_NAME]: { A: [UPSTREAM_TEST_IP], TXT: ['kvpn test world upstream'] },
        [`www.${UPSTREAM_TEST_NAME}`]: { CNAME: UPSTREAM_TEST_NAME },
      },
    });
    await this.dns.listen(UPSTREAM_DNS_IP, 53);
    this.#http = createHttpServer((_req, res) => res.end(`upstream ${UPSTREAM_TEST_NAME}\n`));
    await new Promise<void>((resolve) => this.#http?.listen(80, UPSTREAM_TEST_IP, resolve));
    await writeFile(
      `/etc/netns/${laptopNetns}/resolv.conf`,
      `# kvpn test world: the laptop's system resolver (upstream DNS, knows ${UPSTREAM_TEST_NAME}, not ${clusterDomain})\nnameserver ${UPSTREAM_DNS_IP}\noptions edns0\n`,
    );
  }

  close(): void {
    this.dns?.close();
    this.#http?.close();
  }
}
