// `kvpn run WORKLOAD --mount -- CMD`: the workload's volumes at their real
// paths for this command only. A mount is made for the run (`kvpn mount`),
// then the command runs in a private mount namespace, entered from the
// session daemon's (where the FUSE mounts are), whose bind mounts nobody else
// sees; the mount is removed when the command ends. KVPN_ROOT names the
// directory that holds them all, like Telepresence's TELEPRESENCE_ROOT.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KvpnError } from '../errors.js';
import { askSession, invokingUser, isRoot, resolveDirs, selfCommand } from '../sessions/index.js';
import { bindAtRealPaths, type PrivateMount } from '../volumes/index.js';
import type { CliIo } from './io.js';
import { askMount } from './mount.js';
import type { RunArgs } from './run.js';
import { spawnForwarding } from './spawn-forwarding.js';

export const RUN_MOUNTED_COMMAND = '__run-mounted';

interface MountedSpec {
  mounts: PrivateMount[];
  scratch: string;
  /** A root-only file with the command's environment (the workload's may set NODE_OPTIONS or LD_PRELOAD: never root's). */
  envFile: string;
  uid?: number | undefined;
  gid?: number | undefined;
}

export async function runMounted(
  args: RunArgs,
  io: CliIo,
  command: string,
  o: { argv: string[]; vars: NodeJS.ProcessEnv; daemonPid: number },
): Promise<number> {
  if (process.platform !== 'linux')
    throw new KvpnError('KVPN_ERR_RUN_MOUNT_PLATFORM', 'user', '`kvpn run --mount` works on Linux only', {
      remedy: `Use \`${command} mount\` and read the files under its directory.`,
    });
  if (!isRoot())
    throw new KvpnError(
      'KVPN_ERR_RUN_MOUNT_ROOT',
      'user',
      '`kvpn run --mount` needs root to give the command a private mount namespace',
      {
        remedy: `Run it with sudo: \`sudo ${command} run ${args.workload} --mount -- CMD\` (the command runs as you).`,
      },
    );
  const name = `run-${randomBytes(3).toString('hex')}`;
  const status = await askMount(
    {
      ...args,
      dir: undefined,
      rw: false,
      only: undefined,
      name,
      filesImage: undefined,
      json: false,
    },
    io,
    command,
  );
  try {
    const user = invokingUser(io.env);
    const envFile = join(status.workDir, 'run-env.json');
    writeFileSync(envFile, JSON.stringify({ ...o.vars, KVPN_ROOT: status.dir }), { mode: 0o600 });
    const spec: MountedSpec = {
      mounts: status.paths.map((p) => ({ mountPath: p.mountPath, localPath: p.localPath })),
      scratch: status.workDir,
      envFile,
      uid: user?.uid,
      gid: user?.gid,
    };
    const self = selfCommand();
    const argv = [
      'nsenter',
      `--mount=/proc/${o.daemonPid}/ns/mnt`,
      `--wd=${process.cwd()}`,
      '--',
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      self.command,
      ...self.args,
      RUN_MOUNTED_COMMAND,
      JSON.stringify(spec),
      '--',
      ...o.argv,
    ];
    // The root helpers get root's own PATH and nothing of the workload's environment.
    return await spawnForwarding(argv, { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' });
  } finally {
    await askSession(resolveDirs(args, io.env), args.context, 'unmount', { name }, command).catch((err: Error) =>
      io.err(`kvpn: could not remove the run's mount ${name}: ${err.message}\n`),
    );
  }
}

/** In the private namespace (as root): bind the volumes, then run the command as the user. */
export async function runInMountNamespace(argv: string[]): Promise<number> {
  const at = argv.indexOf(RUN_MOUNTED_COMMAND);
  const spec = JSON.parse(argv[at + 1] ?? '{}') as MountedSpec;
  const sep = argv.indexOf('--', at + 2);
  const commandArgv = argv.slice(sep + 1);
  const env = JSON.parse(readFileSync(spec.envFile, 'utf8')) as NodeJS.ProcessEnv;
  rmSync(spec.envFile, { force: true });
  bindAtRealPaths(spec.mounts, spec.scratch);
  return spawnForwarding(commandArgv, env, {
    ...(spec.uid === undefined ? {} : { uid: spec.uid }),
    ...(spec.gid === undefined ? {} : { gid: spec.gid }),
  });
}
