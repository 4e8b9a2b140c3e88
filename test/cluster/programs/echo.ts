// The echo "application" (delivered to its pods in a ConfigMap, run by
// node): HTTP on $PORT answering GET / with the pod's name, GET /bytes/N
// with N bytes, any other method by echoing the request body; plain TCP
// echo on $TCP_ECHO_PORT (half-close honoured).
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';

const name = process.env.HOSTNAME || os.hostname();
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const bytes = /^\/bytes\/(\d+)$/.exec(url);
  if (req.method === 'GET' && bytes) {
    let left = Number(bytes[1]);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(left) });
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!res.write(CHUNK.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    const body = url === '/healthz' ? 'ok\n' : `${name}\n`;
    res.writeHead(200, {
      'Content-Type': 'text/plain',
      'Content-Length': String(Buffer.byteLength(body)),
      'X-Pod-Name': name,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  res.writeHead(200, { 'Content-Type': req.headers['content-type'] ?? 'application/octet-stream', 'X-Pod-Name': name });
  req.pipe(res);
});
// '::' takes both families (IPv4 as mapped addresses): pods may be dual-stack or IPv6-only.
server.listen(Number(process.env.PORT ?? 8080), '::', () =>
  console.log(`echo ${name} listening on ${process.env.PORT ?? 8080}`),
);

if (process.env.TCP_ECHO_PORT) {
  net
    .createServer({ allowHalfOpen: true }, (s) => {
      s.pipe(s);
      s.on('error', () => s.destroy());
    })
    .listen(Number(process.env.TCP_ECHO_PORT), '::');
}

process.on('SIGTERM', () => {
  console.log('SIGTERM received, exiting');
  process.exit(0);
});
