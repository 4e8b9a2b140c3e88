// The real world's daemon: started by startCluster({ kind: 'real' }) or
// `npm run cluster -- up --real` inside the laptop network namespace, as
// the stand-in's daemon is (../daemon.ts), with the same READY/FAILED line,
// world.json and control socket, and the same lifetime rules.
import { appendFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { sweepWorld } from '../network/sweep.js';
import { DEFAULT_CLUSTER_DOMAIN } from '../world-config.js';
import { binariesIn } from './component-args.js';
import { RealControlServer } from './control-server.js';
import { RealLayout } from './layout.js';
import { RealWorld } from './world.js';

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    root: { type: 'string' },
    owner: { type: 'string', default: 'test' },
    'cluster-domain': { type: 'string', default: DEFAULT_CLUSTER_DOMAIN },
    'ready-timeout-ms': { type: 'string', default: '180000' },
    bin: { type: 'string' },
    'image-cache': { type: 'string' },
  },
});

const layout = new RealLayout(values.id ?? '', values.root);
const owner = values.owner === 'cli' ? 'cli' : 'test';
const log = (line: string): void => {
  try {
    appendFileSync(layout.logFile, `${new Date().toISOString()} ${line}\n`);
  } catch {}
};
if (!values.bin || !values['image-cache']) throw new Error('--bin and --image-cache are required');

const world = new RealWorld(
  layout,
  {
    clusterDomain: values['cluster-domain'] ?? DEFAULT_CLUSTER_DOMAIN,
    owner,
    readyTimeoutMs: Number(values['ready-timeout-ms']),
    binaries: binariesIn(values.bin),
    imageCache: values['image-cache'],
  },
  log,
);

let stopping: Promise<void> | undefined;
function shutdown(code: number): Promise<void> {
  stopping ??= (async () => {
    log('stopping');
    control.close();
    await world.stop().catch((err) => log(`stop failed: ${err?.stack ?? err}`));
    process.exit(code);
  })();
  return stopping;
}

const control = new RealControlServer(world, () => void shutdown(0));
world.node.onUnexpectedExit = (name, code, signal) =>
  log(`BROKEN: ${name} exited (code ${code}, signal ${signal}); see ${layout.logOf(name)}`);
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
process.on('uncaughtException', (err) => {
  log(`uncaught: ${err?.stack ?? err}`);
  void shutdown(1);
});
if (owner === 'test') {
  process.stdin.on('end', () => void shutdown(0));
  process.stdin.on('error', () => void shutdown(0));
  process.stdin.resume();
}

try {
  const state = await world.start();
  await control.listen(layout.controlSocket);
  writeFileSync(layout.stateFile, `${JSON.stringify(state, null, 2)}\n`);
  log(`ready: ${JSON.stringify(state)}`);
  process.stdout.write(`READY ${JSON.stringify(state)}\n`);
} catch (err) {
  log(`start failed: ${(err as Error)?.stack ?? err}`);
  process.stdout.write(`FAILED ${JSON.stringify(String((err as Error)?.message ?? err))}\n`);
  await world.stop().catch(() => undefined);
  await sweepWorld(layout.id, layout.dir, process.pid).catch(() => undefined);
  process.exit(1);
}
