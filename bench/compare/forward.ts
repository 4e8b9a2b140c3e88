// `kubectl port-forward` in miniature, for `npm run bench -- compare`: run
// inside the laptop namespace, it listens on 127.0.0.1 (one port per
// --forward) and bridges every accepted connection to a new
// v4.channel.k8s.io port-forward stream (our src/kube/port-forward.ts):
//
//   client ─► 127.0.0.1:L ─► this process ─► WebSocket ─► API server ─► pod:port
//
// One WebSocket per connection: that protocol carries one stream per port,
// so this is the raw transport with nothing multiplexed on top. Prints
// `LISTENING <pod>:<port> <local port>` per forward, then `READY`; SIGTERM
// or stdin closing ends it.
//
//   node --import scripts/ts-loader.mjs bench/compare/forward.ts \
//     --kubeconfig F --context C --namespace N --forward POD:PORT [--forward POD:PORT]...
import net from 'node:net';
import { parseArgs } from 'node:util';
import { KubeClient } from '../../src/kube/client.js';
import { openPortForward } from '../../src/kube/port-forward.js';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    namespace: { type: 'string', default: 'default' },
    forward: { type: 'string', multiple: true, default: [] },
  },
});
if (values.forward.length === 0) {
  process.stderr.write(
    'usage: bench/compare/forward.ts --forward POD:PORT... [--kubeconfig F] [--context C] [--namespace N]\n',
  );
  process.exit(2);
}
const client = KubeClient.load({ kubeconfig: values.kubeconfig, context: values.context, namespace: values.namespace });
let failed = 0;

function listen(pod: string, port: number): Promise<number> {
  const target = { namespace: values.namespace ?? 'default', pod, port };
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    openPortForward(client, target).then(
      (stream) => {
        stream.on('error', () => socket.destroy());
        socket.on('close', () => stream.destroy());
        stream.on('close', () => socket.destroy());
        // No half-close in the protocol: either side ending ends both.
        socket.pipe(stream);
        stream.pipe(socket);
        socket.resume();
      },
      (err: Error) => {
        failed++;
        if (failed <= 3) process.stderr.write(`port-forward to ${pod}:${port} failed: ${err.message}\n`);
        socket.destroy();
      },
    );
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

for (const spec of values.forward) {
  const [pod = '', port = ''] = spec.split(':');
  process.stdout.write(`LISTENING ${spec} ${await listen(pod, Number(port))}\n`);
}
process.stdout.write('READY\n');
const stop = (): void => {
  client.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
