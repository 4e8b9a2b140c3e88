// Where the relay's listeners (inbound connections, intercept routers)
// listen: every address of the pod, of both IP families. A pod of an
// IPv6-only cluster has no IPv4 address but loopback, so "0.0.0.0" would
// never see a connection: the listener binds "::" with IPV6_V6ONLY off (one
// socket for both families) and falls back to "0.0.0.0" in a pod without
// IPv6 at all. IPv4 clients of the dual-stack socket appear as
// ::ffff:a.b.c.d; peers are named without that prefix, as before.
import dgram from 'node:dgram';
import type net from 'node:net';

/** A pod or kernel without IPv6: bind "::" fails with one of these. */
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

function listenOn(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Listens on every address of both families ("::", dual-stack), else of IPv4 alone. */
export async function listenAllFamilies(server: net.Server, port: number): Promise<void> {
  try {
    await listenOn(server, { port, host: '::', ipv6Only: false });
  } catch (err) {
    if (!NO_IPV6.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    await listenOn(server, { port, host: '0.0.0.0' });
  }
}

/** "10.244.0.5" for an IPv4 client of a dual-stack socket (seen as ::ffff:10.244.0.5). */
export function unmappedAddress(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

/** "address:port" of a connection's far end, as kvpn-peer carries it. */
export function peerName(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${unmappedAddress(socket.remoteAddress)}:${socket.remotePort}`;
}

function bindOn(socket: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/**
 * A UDP socket bound to `port` on every address of both families (udp6 on
 * "::" with IPV6_V6ONLY off), else on IPv4 alone; the caller closes it.
 * `onMessage` sees IPv4 senders as ::ffff:a.b.c.d (send replies there as is).
 */
export async function bindUdpAllFamilies(
  port: number,
  onMessage: (msg: Buffer, from: dgram.RemoteInfo) => void,
): Promise<dgram.Socket> {
  const six = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  six.on('message', onMessage);
  try {
    await bindOn(six, port, '::');
    return six;
  } catch (err) {
    six.close();
    if (!NO_IPV6.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
  const four = dgram.createSocket('udp4');
  four.on('message', onMessage);
  try {
    await bindOn(four, port, '0.0.0.0');
  } catch (err) {
    four.close();
    throw err;
  }
  return four;
}
