// A stand-in for a kvpn daemon that got as far as the resolver: it takes
// the session lock, journals itself and its session directory, then points
// the resolver at kvpn exactly as the session does (SystemResolver: the
// change journaled, then applied) and waits to be killed. Run it inside a
// test network namespace (`ip netns exec`, so /etc/resolv.conf is the
// namespace's). argv[2]: {"stateDir", "runtimeDir", "context"}.
import { mkdirSync } from 'node:fs';
import { silentLogger } from '../../../src/host/log.js';
import { sessionId, sessionPaths } from '../../../src/host/paths.js';
import { processStartTime } from '../../../src/host/process-info.js';
import { SystemResolver } from '../../../src/session/dns-restore.js';
import { StateJournal } from '../../../src/session/state-journal.js';

const config = JSON.parse(process.argv[2] ?? '{}') as { stateDir: string; runtimeDir: string; context: string };
const paths = sessionPaths(config, sessionId(config.context));
const journal = StateJournal.create(paths.stateFile, {
  id: paths.id,
  context: config.context,
  namespace: 'default',
  cluster: 'kvpn-test',
  server: 'https://127.0.0.1:6443',
  socket: paths.socket,
  logFile: paths.logFile,
  createdAt: new Date().toISOString(),
  ownerPid: process.pid,
  ownerStart: processStartTime(process.pid),
});
journal.record({ kind: 'process', pid: process.pid, startTime: processStartTime(process.pid), what: 'kvpn daemon' });
journal.record({ kind: 'file', path: paths.sessionDir, what: 'session directory' });
mkdirSync(paths.sessionDir, { recursive: true, mode: 0o700 });
const resolver = await SystemResolver.choose('resolvconf', {
  device: 'kvpn0',
  dnsAddress: '198.18.0.2',
  clusterDomain: 'cluster.local',
  searchDomains: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
  routingDomains: [],
  stateDir: config.stateDir,
  sessionId: paths.id,
  log: silentLogger,
});
journal.record(resolver.change());
await resolver.apply();
process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
setInterval(() => {}, 60_000);
