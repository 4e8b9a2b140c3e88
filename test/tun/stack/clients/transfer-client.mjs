// Runs inside the client namespace: connects, sends N pseudo-random bytes
// (then half-closes), reads everything the server sends, and prints one
// JSON line with both SHA-256 digests and byte counts.
// usage: node transfer-client.mjs HOST PORT SEND_BYTES [SEED]
import { createHash } from 'node:crypto';
import { connect } from 'node:net';

const [host, port, sendArg, seedArg] = process.argv.slice(2);
const total = Number(sendArg);
let seed = Number(seedArg ?? 1) >>> 0 || 1;
const chunk = Buffer.alloc(256 * 1024);
function fill(buf) {
  for (let i = 0; i < buf.length; i += 4) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    buf.writeUInt32LE(seed >>> 0, i);
  }
}
const sent = createHash('sha256');
const received = createHash('sha256');
let receivedBytes = 0;
const started = Date.now();
const socket = connect({ host, port: Number(port), allowHalfOpen: true });
socket.on('error', (err) => {
  process.stdout.write(`${JSON.stringify({ error: err.code ?? err.message })}\n`);
  process.exit(2);
});
socket.on('data', (d) => {
  received.update(d);
  receivedBytes += d.length;
});
socket.on('end', () => {
  process.stdout.write(
    `${JSON.stringify({ sent: sent.digest('hex'), sentBytes: total, received: received.digest('hex'), receivedBytes, ms: Date.now() - started })}\n`,
  );
  socket.end();
});
socket.on('connect', () => {
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      fill(chunk);
      const piece = Buffer.from(chunk.subarray(0, n));
      sent.update(piece);
      left -= n;
      if (!socket.write(piece)) {
        socket.once('drain', pump);
        return;
      }
    }
    socket.end();
  };
  pump();
});
