// Client scenarios run inside the client namespace; each prints one JSON
// line with what the application observed.
// usage: node scenario-client.mjs MODE HOST PORT [ARG]
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

const [mode, host, portArg, arg] = process.argv.slice(2);
const port = Number(portArg);
const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const started = Date.now();

function open() {
  return connect({ host, port, allowHalfOpen: true });
}

function readAll(socket) {
  return new Promise((resolve, reject) => {
    const parts = [];
    socket.on('data', (d) => parts.push(d));
    socket.on('end', () => resolve(Buffer.concat(parts)));
    socket.on('error', reject);
  });
}

switch (mode) {
  case 'connect': {
    // Just connect; report the error code (ECONNREFUSED, EHOSTUNREACH…) or success.
    const s = open();
    s.setTimeout(Number(arg ?? 5000), () => {
      print({ result: 'timeout', ms: Date.now() - started });
      s.destroy();
    });
    s.on('connect', () => {
      print({ result: 'connected', ms: Date.now() - started });
      s.end();
    });
    s.on('error', (e) => print({ result: e.code, ms: Date.now() - started }));
    break;
  }
  case 'half-close': {
    // Send the question, shut our writing side, then read the whole answer.
    const s = open();
    const answer = readAll(s);
    s.on('connect', () => s.end('question'));
    answer.then(
      (a) => print({ answer: a.toString() }),
      (e) => print({ error: e.code }),
    );
    break;
  }
  case 'server-first': {
    // The server says bye and closes its side; we read to EOF, then still send.
    const s = open();
    readAll(s).then(
      (greeting) => {
        s.end('late words', () => print({ greeting: greeting.toString(), wroteAfterEof: true }));
      },
      (e) => print({ error: e.code }),
    );
    break;
  }
  case 'client-rst': {
    // Send a little, then reset the connection.
    const s = open();
    s.on('connect', () => {
      s.write('before reset', () =>
        setTimeout(() => {
          s.resetAndDestroy();
          print({ reset: true });
        }, 100),
      );
    });
    s.on('error', (e) => print({ error: e.code }));
    break;
  }
  case 'expect-rst': {
    // Wait for the server to reset us.
    const s = open();
    s.on('connect', () => s.write('hello'));
    s.on('error', (e) => print({ error: e.code }));
    s.on('end', () => print({ error: 'EOF' }));
    break;
  }
  case 'concurrent': {
    // N connections at once, each sends 64 KiB of its own bytes and reads the echo.
    const n = Number(arg);
    let ok = 0;
    let bad = 0;
    let finished = 0;
    for (let i = 0; i < n; i++) {
      const payload = createHash('sha512').update(String(i)).digest();
      const data = Buffer.concat(Array.from({ length: 1024 }, () => payload));
      const s = open();
      readAll(s)
        .then(
          (echo) => {
            if (echo.equals(data)) ok++;
            else bad++;
          },
          () => bad++,
        )
        .finally(() => {
          if (++finished === n) print({ ok, bad, ms: Date.now() - started });
        });
      s.on('connect', () => s.end(data));
    }
    break;
  }
  case 'idle': {
    // Open N connections, stay silent for ARG ms, then use every one of them.
    const n = 20;
    const idleMs = Number(arg);
    const sockets = [];
    for (let i = 0; i < n; i++) sockets.push(open());
    setTimeout(async () => {
      const answers = await Promise.all(
        sockets.map((s, i) => {
          const p = readAll(s).then(
            (b) => b.toString(),
            (e) => e.code,
          );
          s.end(`ping ${i}`);
          return p;
        }),
      );
      print({ answers });
    }, idleMs);
    break;
  }
  case 'udp': {
    // Send ARG datagrams, expect each echoed.
    const n = Number(arg ?? 3);
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const got = [];
    s.on('message', (m) => {
      got.push(m.toString());
      if (got.length === n) {
        print({ got });
        s.close();
      }
    });
    s.on('error', (e) => print({ error: e.code }));
    for (let i = 0; i < n; i++) s.send(`datagram ${i}`, port, host);
    setTimeout(() => {
      print({ got, timeout: true });
      process.exit(0);
    }, 5000).unref();
    break;
  }
  default:
    print({ error: `unknown mode ${mode}` });
}
