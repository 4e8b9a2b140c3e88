// A child with the terminal, the signals passed on, and its exit status as
// kvpn's (128+N for a signal).
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { KvpnError } from '../errors.js';

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

export function spawnForwarding(
  argv: string[],
  env: NodeJS.ProcessEnv,
  as: { uid?: number; gid?: number } = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: 'inherit', ...as });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const s of FORWARDED_SIGNALS) process.on(s, forward);
    const done = () => {
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
    };
    child.on('error', (err) => {
      done();
      reject(
        new KvpnError('KVPN_ERR_RUN_SPAWN', 'user', `cannot run ${argv[0]}: ${err.message}`, {
          cause: err,
          remedy: 'Check the command exists in your PATH (the workload environment does not change PATH).',
        }),
      );
    });
    child.on('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
