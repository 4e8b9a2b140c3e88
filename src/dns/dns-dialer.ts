// Puts the DNS server into the userspace stack's path: a Dialer wrapper
// that serves UDP flows and TCP connections to <dnsAddress>:53 from the
// in-process server and passes everything else to the inner dialer (the
// tunnel). The DNS addresses (one per family) lie inside the TUN network,
// so the kernel routes queries into the TUN and the stack hands them to us
// here.
import type { Duplex } from 'node:stream';
import { type DatagramFlow, DialError, type Dialer, type DialRequest } from '../tun/stack/index.js';
import { canonicalIp } from './names.js';
import type { DnsServer } from './server.js';

export const DNS_PORT = 53;
/** Forwarded answers a single UDP flow may be waiting for at once. */
export const FLOW_MAX_PENDING = 256;

/** `dnsAddresses`: every address the server answers at (an IPv4 and an IPv6 one in a session). */
export function createDnsDialer(inner: Dialer, server: DnsServer, dnsAddresses: string | readonly string[]): Dialer {
  const list = typeof dnsAddresses === 'string' ? [dnsAddresses] : dnsAddresses;
  const ours = new Set(list.map((a) => canonicalIp(a) ?? a));
  const isOurs = (request: DialRequest) =>
    ours.has(canonicalIp(request.destination.address) ?? request.destination.address);
  const nothingThere = (request: DialRequest) =>
    `nothing listens on ${request.destination.address}:${request.destination.port} (the DNS address)`;
  return {
    async dialTcp(request: DialRequest): Promise<Duplex> {
      if (!isOurs(request)) return inner.dialTcp(request);
      if (request.destination.port !== DNS_PORT) throw new DialError('refused', nothingThere(request));
      return server.openTcpConnection(request.source);
    },
    async openUdp(request: DialRequest): Promise<DatagramFlow> {
      if (!isOurs(request)) return inner.openUdp(request);
      if (request.destination.port !== DNS_PORT) throw new DialError('unreachable', nothingThere(request));
      return new DnsDatagramFlow(server, request);
    },
  };
}

class DnsDatagramFlow implements DatagramFlow {
  readonly #server: DnsServer;
  readonly #request: DialRequest;
  #onDatagram: ((datagram: Uint8Array) => void) | undefined;
  #pending = 0;
  #closed = false;

  constructor(server: DnsServer, request: DialRequest) {
    this.#server = server;
    this.#request = request;
    request.signal.addEventListener('abort', () => this.close(), { once: true });
  }

  send(datagram: Uint8Array): boolean {
    if (this.#closed || this.#pending >= FLOW_MAX_PENDING) return false;
    this.#pending++;
    this.#server.handle(datagram, this.#request.source, 'udp', (response) => {
      this.#pending--;
      if (response && !this.#closed) this.#onDatagram?.(response);
    });
    return true;
  }

  onDatagram(handler: (datagram: Uint8Array) => void): void {
    this.#onDatagram = handler;
  }

  /** The server never closes a flow on its own: the stack's idle timer ends it. */
  onClose(_handler: (err?: Error) => void): void {}

  /** The stack is done with the flow; answers still on their way are dropped. */
  close(): void {
    this.#closed = true;
  }
}
