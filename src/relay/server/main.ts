// Entry point of the in-cluster relay, bundled by scripts/bundle-relay.mjs
// into dist/relay/relay.js and run by a stock node image:
// environment → config → RelayServer on 127.0.0.1; exits 0 when idle or on
// SIGTERM, 2 on bad configuration, 1 if it cannot listen or crashes.
import { relayConfigFromEnv } from './config.js';
import { RelayLog } from './log.js';
import { RelayServer } from './server.js';

const config = relayConfigFromEnv(process.env);
if ('errors' in config) {
  for (const e of config.errors)
    process.stdout.write(`${JSON.stringify({ level: 'error', msg: 'bad configuration', error: e })}\n`);
  process.exit(2);
}
const log = new RelayLog(config.logLevel, (line) => process.stdout.write(line));
const server = new RelayServer(config, log, () => process.exit(0));
const stop = (signal: string): void => {
  log.info('stopping', { signal });
  server.destroy();
  process.exit(0);
};
process.on('SIGTERM', () => stop('SIGTERM'));
// A bug must not go unexplained: the last log line lands in the pod's termination message.
process.on('uncaughtException', (err: Error) => {
  log.error('relay crashed', { error: err.stack ?? err.message });
  process.exit(1);
});
process.on('SIGINT', () => stop('SIGINT'));
server.listen().catch((err: Error) => {
  log.error('cannot listen', { error: err.message, port: config.port });
  process.exit(1);
});
