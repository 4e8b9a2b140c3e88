// The world's daemon: started by startCluster() or `npm run cluster -- up`
// inside the laptop network namespace (nsenter --net, host mount
// namespace), it builds the world, writes world.json, prints one READY line
// with the state as JSON on stdout, and serves the control socket until
// told to stop, until its owner's pipe closes (owner=test), or a signal.
import { appendFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ControlServer } from './control-server.js';
import { sweepWorld } from './network/sweep.js';
import { World } from './world.js';
import { DEFAULT_CLUSTER_DOMAIN, WorldLayout } from './world-config.js';

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    root: { type: 'string' },
    owner: { type: 'string', default: 'test' },
    nodes: { type: 'string', default: '2' },
    'service-cidr-api': { type: 'string', default: 'true' },
    'restart-backoff-ms': { type: 'string', default: '1000' },
    'cluster-domain': { type: 'string', default: DEFAULT_CLUSTER_DOMAIN },
    'ready-timeout-ms': { type: 'string', default: '30000' },
  },
});

const layout = new WorldLayout(values.id ?? '', values.root);
const owner = values.owner === 'cli' ? 'cli' : 'test';
const log = (line: string): void => {
  try {
    appendFileSync(layout.logFile, `${new Date().toISOString()} ${line}\n`);
  } catch {}
};

const world = new World(
  layout,
  {
    nodes: Number(values.nodes),
    serviceCidrApi: values['service-cidr-api'] !== 'false',
    restartBackoffMs: Number(values['restart-backoff-ms']),
    clusterDomain: values['cluster-domain'] ?? DEFAULT_CLUSTER_DOMAIN,
    owner,
    readyTimeoutMs: Number(values['ready-timeout-ms']),
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

const control = new ControlServer(world, () => void shutdown(0));
// Whoever held our stdout/stderr may be gone (a CLI world); never die of EPIPE.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
process.on('uncaughtException', (err) => {
  log(`uncaught: ${err?.stack ?? err}`);
  void shutdown(1);
});
if (owner === 'test') {
  // The test process holds our stdin; when it goes away, so does the world.
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
