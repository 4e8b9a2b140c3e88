// A TCP listener that answers no SYN: it fills its accept queue with
// connections of its own (backlog 1 admits two; Node turns 0 into 511) and
// then blocks its only thread, so it never accepts and the kernel drops every
// further SYN. A dial to it times out,
// which is what a firewall that drops packets looks like. Node source, for
// `node -e` here or in a pod; it prints "ready <port>" once the queue is full.
export function blackholeScript(host: string, port: number): string {
  return [
    "const net = require('net'), fs = require('fs');",
    'const s = net.createServer();',
    `s.listen({ host: ${JSON.stringify(host)}, port: ${port}, backlog: 1 }, () => {`,
    "  for (let i = 0; i < 2; i++) net.connect(s.address().port, '127.0.0.1').on('error', () => {});",
    // net.connect dials on the next tick; block right after that, before the loop could accept.
    '  process.nextTick(() => {',
    "    fs.writeSync(1, 'ready ' + s.address().port + '\\n');",
    '    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);',
    '  });',
    '});',
  ].join('\n');
}
