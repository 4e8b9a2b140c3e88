// Pods for `npm run bench -- tunnel`: the bulk server, and two bare
// forwarders that put a relay hop between a raw port-forward and that
// server with nothing else of the tunnel's (no HTTP/2, no token, no
// multiplexing):
//   splice — C, splice(2): bytes never reach user space, so the forwarder
//            itself costs next to nothing; raw vs splice is what a hop
//            inside the cluster costs before anything runs in it.
//   node   — a Node process in node:22-alpine, the image the relay runs in,
//            tuned as the relay is: the least a relay built as kvpn's is can
//            cost.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { KubeClient } from '../src/kube/client.js';
import type { startCluster } from '../test/cluster/index.js';

type Cluster = Awaited<ReturnType<typeof startCluster>>;

export const BULK_PORT = 9100;
const SPLICE_PORT = 9200;
const NODE_FORWARDER_PORT = 9300;

// The bulk server: first byte D = download forever; U = upload, one byte back per MiB
// received (port-forward has no half-close, so no answer at EOF); C = close at once.
// A FIN from its peer is answered with its own.
const BULK_SERVER = `const net=require('net');const buf=Buffer.alloc(1<<20,120);
net.createServer({allowHalfOpen:true},s=>{s.on('error',()=>{});s.on('end',()=>s.end());s.once('data',d=>{const m=d[0];
if(m===68){const pump=()=>{while(!s.destroyed&&s.write(buf));};s.on('drain',pump);pump();}
else if(m===85){let n=d.length-1;s.on('data',x=>{n+=x.length;let k=0;while(n>=1048576){n-=1048576;k++}if(k)s.write(Buffer.alloc(k,1))});}
else s.end();});}).listen(${BULK_PORT});`;

// Tuned as the relay is: no Nagle, target reads straight into 256 KiB
// buffers handed on as they are (onread), backpressure both ways, FIN passed
// on, a close or reset ends both sides (the other once it has written what it holds).
const nodeForwarder = (ip: string): string => `const net=require('net');
const link=(a,b)=>{b.on('drain',()=>a.resume());a.on('end',()=>b.end());a.on('close',()=>b.destroySoon());a.on('error',()=>{});};
net.createServer({noDelay:true},c=>{c.pause();
const t=net.connect({port:${BULK_PORT},host:'${ip}',noDelay:true,
onread:{buffer:()=>Buffer.allocUnsafe(262144),callback:(n,buf)=>c.write(buf.subarray(0,n))}});
c.on('data',d=>{if(!t.write(d))c.pause()});t.on('connect',()=>c.resume());link(t,c);link(c,t);
}).listen(${NODE_FORWARDER_PORT});`;

/** Command-line markers that tell the bench's CPU accounting which process is which. */
export const PROCESS_MARKERS = {
  target: `listen(${BULK_PORT})`,
  forwarder: [`listen(${NODE_FORWARDER_PORT})`, 'splice-forwarder'],
};

export interface ReferencePods {
  /** Pod IP of the bulk server. */
  bulkIp: string;
  /** Pod name and port of each bare forwarder (dial them with a raw port-forward). */
  forwarders: { splice: { pod: string; port: number }; node: { pod: string; port: number } };
}

async function startPod(
  client: KubeClient,
  cluster: Cluster,
  name: string,
  container: object,
  readyPort: number,
  volumes?: object[],
) {
  await client.request('POST', '/api/v1/namespaces/default/pods', {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: {
        terminationGracePeriodSeconds: 0,
        containers: [{ name, ...container, readinessProbe: { tcpSocket: { port: readyPort }, periodSeconds: 1 } }],
        ...(volumes ? { volumes } : {}),
      },
    },
  });
  return cluster.waitForReadyPod(name);
}

/** Starts the bulk server and both forwarders in front of it; `dir` receives the compiled splice forwarder. */
export async function startReferencePods(client: KubeClient, cluster: Cluster, dir: string): Promise<ReferencePods> {
  const bulk = await startPod(
    client,
    cluster,
    'bulk',
    { image: 'node:22-alpine', command: ['node', '-e', BULK_SERVER] },
    BULK_PORT,
  );
  const bulkIp = bulk?.status?.podIP as string;
  await startPod(
    client,
    cluster,
    'forward-node',
    { image: 'node:22-alpine', command: ['node', '-e', nodeForwarder(bulkIp)] },
    NODE_FORWARDER_PORT,
  );
  const binDir = join(dir, 'splice-forwarder');
  execFileSync('mkdir', ['-p', binDir]);
  execFileSync('gcc', [
    '-O2',
    '-pthread',
    '-o',
    join(binDir, 'splice-forwarder'),
    join(import.meta.dirname, '_splice-forwarder.c'),
  ]);
  await startPod(
    client,
    cluster,
    'forward-splice',
    {
      image: 'debian:12',
      command: ['/forwarder/splice-forwarder', String(SPLICE_PORT), bulkIp, String(BULK_PORT)],
      volumeMounts: [{ name: 'bin', mountPath: '/forwarder', readOnly: true }],
    },
    SPLICE_PORT,
    [{ name: 'bin', hostPath: { path: binDir } }],
  );
  return {
    bulkIp,
    forwarders: {
      splice: { pod: 'forward-splice', port: SPLICE_PORT },
      node: { pod: 'forward-node', port: NODE_FORWARDER_PORT },
    },
  };
}
