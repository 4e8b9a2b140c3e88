// The stand-in world's daemon: started by startCluster() or `npm run
// cluster -- up` inside the laptop network namespace (nsenter --net, host
// mount namespace); its lifetime is world-daemon.ts's.
import { parseArgs } from 'node:util';
import { ControlServer } from './control-server.js';
import { World } from './world.js';
import { DEFAULT_CLUSTER_DOMAIN, WorldLayout } from './world-config.js';
import { runWorldDaemon, worldLog } from './world-daemon.js';

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
const log = worldLog(layout);
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
await runWorldDaemon({ layout, owner, world, log, control: (shutdown) => new ControlServer(world, shutdown) });
