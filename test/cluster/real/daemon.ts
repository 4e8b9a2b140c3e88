// The real world's daemon: started by startCluster({ kind: 'real' }) or
// `npm run cluster -- up --real` inside the laptop network namespace, as
// the stand-in's daemon is; its lifetime is world-daemon.ts's.
import { parseArgs } from 'node:util';
import { IP_FAMILIES, isIpFamilies } from '../ip-families.js';
import { DEFAULT_CLUSTER_DOMAIN } from '../world-config.js';
import { runWorldDaemon, worldLog } from '../world-daemon.js';
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
    'ip-family': { type: 'string', default: 'ipv4' },
  },
});

const layout = new RealLayout(values.id ?? '', values.root);
const owner = values.owner === 'cli' ? 'cli' : 'test';
const log = worldLog(layout);
if (!values.bin || !values['image-cache']) throw new Error('--bin and --image-cache are required');
const ipFamilies = values['ip-family'] ?? 'ipv4';
if (!isIpFamilies(ipFamilies)) throw new Error(`--ip-family ${ipFamilies}: one of ${IP_FAMILIES.join(', ')}`);
const world = new RealWorld(
  layout,
  {
    clusterDomain: values['cluster-domain'] ?? DEFAULT_CLUSTER_DOMAIN,
    owner,
    readyTimeoutMs: Number(values['ready-timeout-ms']),
    binaries: binariesIn(values.bin),
    imageCache: values['image-cache'],
    ipFamilies,
  },
  log,
);
world.node.onUnexpectedExit = (name, code, signal) =>
  log(`BROKEN: ${name} exited (code ${code}, signal ${signal}); see ${layout.logOf(name)}`);
await runWorldDaemon({ layout, owner, world, log, control: (shutdown) => new RealControlServer(world, shutdown) });
