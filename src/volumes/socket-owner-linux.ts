// Who owns the other end of a loopback TCP connection: the uid column of
// /proc/net/tcp for the socket whose local address is our peer's (Linux has
// no SO_PEERCRED for TCP). Read in this process's network namespace.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

/** "0100007F:1F90" for 127.0.0.1:8080, as /proc/net/tcp writes an IPv4 address (little-endian host order). */
export function procAddress(ip: string, port: number): string {
  const hex = ip
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .reverse()
    .join('')
    .toUpperCase();
  return `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The uid owning the socket at local `peer` connected to `local`, from /proc/net/tcp's text; undefined if not found. */
export function ownerIn(table: string, peer: string, local: string): number | undefined {
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === peer && f[2] === local) return Number(f[7]);
  }
  return undefined;
}

export function socketOwner(
  socket: Socket,
  read = () => readFileSync('/proc/self/net/tcp', 'utf8'),
): number | undefined {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (!remoteAddress || !remotePort || !localAddress || !localPort) return undefined;
  const v4 = (a: string) => a.replace(/^::ffff:/, '');
  return ownerIn(read(), procAddress(v4(remoteAddress), remotePort), procAddress(v4(localAddress), localPort));
}
