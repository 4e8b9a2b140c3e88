// `kvpn run WORKLOAD [-c C] [--] CMD [ARGS…]` and `kvpn run WORKLOAD --shell`:
// the command runs with the workload's environment laid over the user's
// (the workload wins, but PATH, HOME, USER, SHELL and TERM stay the user's
// unless --all-env). It needs a running `kvpn up` session for the context,
// so the Service addresses in that environment are reachable. Signals are
// passed on; the exit status is the command's (128+N for a signal).
import { KvpnError } from '../errors.js';
import { findSessions, resolveDirs } from '../sessions/index.js';
import { type WorkloadEnvironment, workloadEnvironment } from '../workload/index.js';
import type { GlobalArgs } from './app.js';
import type { CliIo } from './io.js';
import { UsageError } from './render-error.js';
import { runMounted } from './run-mounted.js';
import { spawnForwarding } from './spawn-forwarding.js';

export interface RunArgs extends GlobalArgs {
  workload: string;
  command?: string[] | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
  kubeconfig?: string | undefined;
  container?: string | undefined;
  pod?: string | undefined;
  shell: boolean;
  allEnv: boolean;
  mount?: boolean | undefined;
  _?: (string | number)[];
}

/** The user's own, kept unless --all-env: the workload's would point into its image. */
const USER_KEEPS = ['PATH', 'HOME', 'USER', 'SHELL', 'TERM'];

export class NoSessionForRunError extends KvpnError {
  constructor(context: string, command: string) {
    super(
      'KVPN_ERR_RUN_NO_SESSION',
      'user',
      `no kvpn session is running for context "${context}": the Service addresses in the environment would not be reachable`,
      { remedy: `Start one with \`${command} up --context ${context}\`, then run this again.` },
    );
  }
}

/** The environment the command gets: the user's, the workload's over it. */
export function layeredEnvironment(
  user: NodeJS.ProcessEnv,
  env: WorkloadEnvironment,
  allEnv: boolean,
): { vars: NodeJS.ProcessEnv; left: string[] } {
  const vars: NodeJS.ProcessEnv = { ...user };
  const left: string[] = [];
  for (const e of env.entries) {
    if (e.value === undefined || e.bytes) {
      left.push(e.name); // unavailable, or bytes a process environment cannot take from Node
      continue;
    }
    if (!allEnv && USER_KEEPS.includes(e.name)) continue;
    vars[e.name] = e.value;
  }
  vars.KVPN_CONTEXT = env.context;
  return { vars, left };
}

export async function runRun(args: RunArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  // yargs leaves what follows `--` in `_`, after the command's own name.
  const given = [...(args.command ?? []), ...(args._ ?? []).slice(1).map(String)];
  const argv = args.shell ? [io.env.SHELL || '/bin/sh', '-i'] : given;
  if (!argv.length) throw new UsageError('say what to run: `kvpn run WORKLOAD -- CMD [ARGS…]` or `--shell`');
  const env = await workloadEnvironment(
    { kubeconfig: args.kubeconfig, context: args.context, namespace: args.namespace },
    { workload: args.workload, container: args.container, pod: args.pod },
  );
  const sessions = await findSessions(resolveDirs(args, io.env), { context: env.context });
  const live = sessions.find((s) => s.status && s.status.state !== 'stopping');
  if (!live?.status) throw new NoSessionForRunError(env.context, command);
  const { vars, left } = layeredEnvironment(io.env, env, args.allEnv);
  for (const name of left)
    io.err(`kvpn: ${name} is not set: its value is unavailable or not text (see \`${command} env\`)\n`);
  if (args.shell) vars.PS1 = `(kvpn:${env.context}) ${io.env.PS1 ?? '\\$ '}`;
  if (!args.mount) return spawnForwarding(argv, vars);
  return runMounted(args, io, command, { argv, vars, daemonPid: live.status.pid });
}
