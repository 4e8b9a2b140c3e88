// A minimal stand-in for kvpn's files forwarder: accepts on 127.0.0.1:0,
// connects to the file server, sends the preamble, waits for `OK\n`, then
// pipes both ways. sshfs -o directport=<port> talks to it.
import { once } from 'node:events';
import net from 'node:net';
import type { Test } from 'tap';
import { connectRaw } from './sftp-client.js';

export async function startForwarder(t: Test, serverPort: number, token: string): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer(async (client) => {
    sockets.add(client);
    client.on('error', () => {});
    client.pause();
    const { socket, answer } = await connectRaw(serverPort, `KVPN-FILES 1 ${token}\n`);
    sockets.add(socket);
    if (answer !== 'OK\n') {
      client.destroy();
      socket.destroy();
      return;
    }
    client.on('close', () => socket.destroy());
    socket.on('close', () => client.destroy());
    client.pipe(socket);
    socket.pipe(client);
    client.resume();
    socket.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.close();
    for (const s of sockets) s.destroy();
  });
  return (server.address() as net.AddressInfo).port;
}
