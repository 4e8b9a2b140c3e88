// The udp-echo "application": every datagram on $PORT goes back to its sender unchanged.
import dgram from 'node:dgram';

const sock = dgram.createSocket('udp4');
sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
sock.bind(Number(process.env.PORT ?? 9000), '0.0.0.0', () =>
  console.log(`udp-echo listening on ${process.env.PORT ?? 9000}`),
);
process.on('SIGTERM', () => process.exit(0));
