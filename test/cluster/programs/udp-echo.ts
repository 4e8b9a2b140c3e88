// The udp-echo "application": every datagram on $PORT goes back to its sender unchanged.
import dgram from 'node:dgram';

// udp6 on '::' also serves IPv4 senders (as mapped addresses): pods may be dual-stack or IPv6-only.
const sock = dgram.createSocket('udp6');
sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
sock.bind(Number(process.env.PORT ?? 9000), '::', () =>
  console.log(`udp-echo listening on ${process.env.PORT ?? 9000}`),
);
process.on('SIGTERM', () => process.exit(0));
