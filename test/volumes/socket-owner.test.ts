// The forwarder serves root's sshfs only: the owner of a loopback peer,
// read from /proc/net/tcp.
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import t from 'tap';
import { ownerIn, procAddress, socketOwner } from '../../src/volumes/socket-owner-linux.js';

t.test('addresses as /proc/net/tcp writes them', async (t) => {
  t.equal(procAddress('127.0.0.1', 8080), '0100007F:1F90');
  t.equal(procAddress('10.0.0.2', 22), '0200000A:0016');
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 111 1',
    '   1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 112 1',
  ].join('\n');
  t.equal(ownerIn(table, '0100007F:9C40', '0100007F:1F90'), 1000, 'the peer end, not ours');
  t.equal(ownerIn(table, '0100007F:9C41', '0100007F:1F90'), undefined);
});

t.test("a connection from this process is its user's", async (t) => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  const [socket] = await accepted;
  t.equal(socketOwner(socket), process.getuid?.(), 'the uid of the process that connected');
  client.destroy();
  socket.destroy();
});
