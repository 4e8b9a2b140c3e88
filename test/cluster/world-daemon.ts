// What both worlds' daemons do around their world (daemon.ts for the
// stand-in, real/daemon.ts for the real one): start it, write world.json,
// print one READY line with the state as JSON on stdout (or FAILED and the
// reason, after removing what was made), serve the control socket, and stop
// when told to, when the owner's pipe closes (owner=test), or on a signal.
import { appendFileSync, cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sweepWorld } from './network/sweep.js';
import type { WorldLayout, WorldState } from './world-config.js';

export interface DaemonWorld {
  start(): Promise<WorldState>;
  stop(): Promise<void>;
}

export interface DaemonControl {
  listen(path: string): Promise<void>;
  close(): void;
}

/** Appends a timestamped line to the world's daemon.log; never throws. */
export function worldLog(layout: WorldLayout): (line: string) => void {
  return (line) => {
    try {
      appendFileSync(layout.logFile, `${new Date().toISOString()} ${line}\n`);
    } catch {}
  };
}

export async function runWorldDaemon(opts: {
  layout: WorldLayout;
  owner: 'cli' | 'test';
  world: DaemonWorld;
  /** Made with the shutdown function the control socket's /shutdown calls. */
  control: (shutdown: () => void) => DaemonControl;
  log: (line: string) => void;
}): Promise<void> {
  const { layout, world, log } = opts;
  let stopping: Promise<void> | undefined;
  const shutdown = (code: number): Promise<void> => {
    stopping ??= (async () => {
      log('stopping');
      control.close();
      await world.stop().catch((err) => log(`stop failed: ${err?.stack ?? err}`));
      process.exit(code);
    })();
    return stopping;
  };
  const control = opts.control(() => void shutdown(0));
  // Whoever held our stdout/stderr may be gone (a CLI world); never die of EPIPE.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  process.on('uncaughtException', (err) => {
    log(`uncaught: ${err?.stack ?? err}`);
    void shutdown(1);
  });
  if (opts.owner === 'test') {
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
    // KVPN_WORLD_KEEP_LOGS=DIR: a failed world's files (but its stores) are copied there before it goes.
    const keep = process.env.KVPN_WORLD_KEEP_LOGS;
    if (keep) {
      const stores = /\/(containerd|etcd|kubelet|pods)\//;
      try {
        cpSync(layout.dir, join(keep, layout.id), { recursive: true, filter: (f) => !stores.test(f) });
      } catch (e) {
        log(`keeping the logs: ${e}`);
      }
    }
    // Said after the copy: the launcher kills this process when it reads it.
    process.stdout.write(`FAILED ${JSON.stringify(String((err as Error)?.message ?? err))}\n`);
    await world.stop().catch(() => undefined);
    await sweepWorld(layout.id, layout.dir, process.pid).catch(() => undefined);
    process.exit(1);
  }
}
