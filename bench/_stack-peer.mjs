// Client and server programs for bench/stack.ts, run as separate processes
// so the stack's process does only the stack (and the dialer's sockets).
//
// HOST is an IPv4 or IPv6 literal (bench/_stack-family.ts has both families).
// server: listens on HOST:0, prints {"port":N}. Per connection the first
// byte picks the job: 'U' discard until EOF, then reply the byte count (8
// bytes) and close; 'D'+u64 send that many bytes and close; 'C' close at
// once; 'I' stay idle.
// clients: upload|download HOST PORT BYTES → {"bytes","ms"};
//          connrate HOST PORT MS CONCURRENCY → {"connections","ms"};
//          idle HOST PORT N → prints {"ready":N} then waits for stdin to close.
import { connect, createServer } from 'node:net';

const [mode, host, portArg, a, b] = process.argv.slice(2);
const port = Number(portArg);
const CHUNK = Buffer.alloc(1 << 20, 0x61);
const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

function sendBytes(socket, total, done) {
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        socket.once('drain', pump);
        return;
      }
    }
    done();
  };
  pump();
}

switch (mode) {
  case 'server': {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
      s.on('error', () => {});
      s.once('readable', function first() {
        const head = s.read(1);
        if (head === null) {
          s.once('readable', first);
          return;
        }
        const job = String.fromCharCode(head[0]);
        if (job === 'U') {
          let n = 0;
          s.on('data', (d) => (n += d.length));
          s.on('end', () => {
            const reply = Buffer.alloc(8);
            reply.writeBigUInt64BE(BigInt(n));
            s.end(reply);
          });
        } else if (job === 'D') {
          const readLen = () => {
            const len = s.read(8);
            if (len === null) return s.once('readable', readLen);
            sendBytes(s, Number(len.readBigUInt64BE()), () => s.end());
            s.resume();
          };
          readLen();
        } else if (job === 'C') {
          s.end();
          s.resume();
        } else {
          // Idle: answer the client's FIN with ours.
          s.on('end', () => s.end());
          s.resume();
        }
      });
    });
    server.listen(0, host, () => print({ port: server.address().port }));
    break;
  }
  case 'upload': {
    const total = Number(a);
    const s = connect({ host, port, allowHalfOpen: true, noDelay: true });
    let t0 = 0;
    s.on('connect', () => {
      t0 = performance.now();
      s.write('U');
      sendBytes(s, total, () => s.end());
    });
    const parts = [];
    s.on('data', (d) => parts.push(d));
    s.on('end', () => {
      const got = Number(Buffer.concat(parts).readBigUInt64BE());
      print({ bytes: got, ms: performance.now() - t0 });
    });
    s.on('error', (e) => print({ error: e.code }));
    break;
  }
  case 'download': {
    const total = Number(a);
    const s = connect({ host, port, allowHalfOpen: true, noDelay: true });
    let t0 = 0;
    let n = 0;
    s.on('connect', () => {
      t0 = performance.now();
      const req = Buffer.alloc(9);
      req[0] = 0x44;
      req.writeBigUInt64BE(BigInt(total), 1);
      s.write(req);
    });
    s.on('data', (d) => (n += d.length));
    s.on('end', () => {
      print({ bytes: n, ms: performance.now() - t0 });
      s.end();
    });
    s.on('error', (e) => print({ error: e.code }));
    break;
  }
  case 'connrate': {
    const durationMs = Number(a);
    const concurrency = Number(b);
    const t0 = performance.now();
    let done = 0;
    let errors = 0;
    let running = 0;
    const one = () => {
      if (performance.now() - t0 >= durationMs) {
        if (--running === 0) print({ connections: done, errors, ms: performance.now() - t0 });
        return;
      }
      const s = connect({ host, port });
      s.on('connect', () => s.write('C'));
      s.on('data', () => {});
      s.on('end', () => {
        done++;
        s.end();
        s.destroy();
        one();
      });
      s.on('error', () => {
        errors++;
        one();
      });
    };
    for (let i = 0; i < concurrency; i++) {
      running++;
      one();
    }
    break;
  }
  case 'idle': {
    const n = Number(a);
    let ready = 0;
    const sockets = [];
    const open = (i) => {
      if (i >= n) return;
      const s = connect({ host, port });
      sockets.push(s);
      s.on('error', (e) => print({ error: e.code }));
      s.on('connect', () => {
        s.write('I');
        if (++ready === n) print({ ready });
        open(i + 64);
      });
    };
    for (let i = 0; i < 64; i++) open(i);
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
    break;
  }
  default:
    print({ error: `unknown mode ${mode}` });
}
