// `kvpn mount WORKLOAD [DIR]` and `kvpn unmount NAME`: asks the running
// session to show the workload container's volumes under DIR at their mount
// paths (docs/mount.md). DIR defaults to a fresh directory under the user's
// runtime dir; kvpn removes it again on unmount and down.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { askSession, type MountStatus, resolveDirs } from '../sessions/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';

export interface MountArgs extends GlobalArgs {
  workload: string;
  dir?: string | undefined;
  container?: string | undefined;
  pod?: string | undefined;
  rw: boolean;
  only?: string[] | undefined;
  name?: string | undefined;
  filesImage?: string | undefined;
  context?: string | undefined;
  json: boolean;
}

export interface UnmountArgs extends GlobalArgs {
  name: string;
  context?: string | undefined;
}

/** A fresh directory right under the user's runtime dir ($XDG_RUNTIME_DIR, else the temp dir): no parent of kvpn's to leave behind. */
export function defaultMountDir(env: NodeJS.ProcessEnv, workload: string): string {
  const base = env.XDG_RUNTIME_DIR && existsSync(env.XDG_RUNTIME_DIR) ? env.XDG_RUNTIME_DIR : tmpdir();
  const name = workload.replace(/^.*\//, '').replace(/[^a-z0-9-]/g, '-');
  return join(base, `kvpn-${name}-${randomBytes(3).toString('hex')}`);
}

export function askMount(args: MountArgs, io: CliIo, command: string): Promise<MountStatus> {
  return askSession<MountStatus>(
    resolveDirs(args, io.env),
    args.context,
    'mount',
    {
      workload: args.workload,
      container: args.container,
      pod: args.pod,
      dir: args.dir ? resolve(args.dir) : defaultMountDir(io.env, args.workload),
      rw: args.rw,
      only: args.only,
      name: args.name,
      filesImage: args.filesImage,
    },
    command,
  );
}

export async function runMount(args: MountArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  const status = await askMount(args, io, command);
  if (args.json) {
    io.out(`${JSON.stringify(status, null, 2)}\n`);
    return EXIT.OK;
  }
  io.out(`Mounted ${status.workload}'s volumes (pod ${status.pod}, container ${status.container}) at ${status.dir}:\n`);
  for (const p of status.paths)
    io.out(
      `  ${p.mountPath}  ${p.type} "${p.volume}"${p.subPath ? ` (subPath ${p.subPath})` : ''}, ${p.readOnly ? 'read-only' : 'read-write'}, ${p.source === 'pod' ? "read from the pod's file server" : p.subPath ? 'copied once (a subPath is not updated, as in the pod)' : 'kept live from the API'}\n`,
    );
  for (const s of status.skipped) io.out(`  ${s.mountPath}  not mounted: ${s.why}\n`);
  io.out(
    `  Run a command with them at their real paths: \`${command} run ${args.workload} --mount -- CMD\` (KVPN_ROOT=${status.dir}).\n` +
      `  End it with \`${command} unmount ${status.name}\` (\`${command} down\` ends it too).\n`,
  );
  return EXIT.OK;
}

export async function runUnmount(args: UnmountArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  const done = await askSession<{ name: string; dir: string }>(
    resolveDirs(args, io.env),
    args.context,
    'unmount',
    { name: args.name },
    command,
  );
  io.out(`Unmounted ${done.name}: nothing of it is left under ${done.dir}.\n`);
  return EXIT.OK;
}
