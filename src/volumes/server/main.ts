// Entry point of kvpn's file server, bundled by scripts/bundle-relay.mjs into
// dist/relay/files.js and run as `node -e` in an ephemeral container of the
// pod whose volumes `kvpn mount` shows (through sshfs -o directport):
// environment → config → FilesServer on 127.0.0.1. Exits 0 when idle or on
// SIGTERM, 2 on bad configuration, 1 if the root is missing, it cannot
// listen, or it crashes. Logs are JSON lines on stderr.
import { statSync } from 'node:fs';
import { filesConfigFromEnv } from './config.js';
import { FilesLog } from './log.js';
import { FilesServer } from './server.js';

const log = new FilesLog((line) => process.stderr.write(line));
const config = filesConfigFromEnv(process.env);
if ('errors' in config) {
  for (const e of config.errors) log.error('bad configuration', { error: e });
  process.exit(2);
}
const exit = (code: number, reason: string): void => {
  log.info('exit', { code, reason });
  process.exit(code);
};
let rootIsDir = false;
try {
  rootIsDir = statSync(config.root).isDirectory();
} catch {}
if (!rootIsDir) {
  log.error('root is not a directory', { root: config.root });
  exit(1, `KVPN_FILES_ROOT ${config.root} is missing or not a directory`);
}
const server = new FilesServer(config, log, (reason) => exit(0, reason));
process.on('SIGTERM', () => exit(0, 'SIGTERM'));
process.on('SIGINT', () => exit(0, 'SIGINT'));
process.on('uncaughtException', (err: Error) => {
  log.error('crashed', { error: err.stack ?? err.message });
  exit(1, 'crash');
});
server.listen().catch((err: NodeJS.ErrnoException) => {
  const why = err.code === 'EADDRINUSE' ? `port ${config.port} is in use` : err.message;
  log.error('cannot listen', { port: config.port, error: why });
  exit(1, `cannot listen: ${why}`);
});
