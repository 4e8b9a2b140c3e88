// The command line: `kvpn up | status | down | logs | env | run | version | completion`
// (also as `kubectl vpn …`). This file only declares the commands and their
// flags; each command lives in its own file, returns an exit code and
// writes through CliIo. runCli never exits the process: main.ts does.
// Commands are imported when run: `status` need not load the Kubernetes client.
import { basename } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { FORMATS } from '../workload/index.js';
import type { DoctorArgs } from './doctor.js';
import type { DownArgs } from './down.js';
import type { EnvArgs } from './env.js';
import { EXIT } from './exit-codes.js';
import type { ExposeArgs } from './expose.js';
import type { InterceptArgs } from './intercept.js';
import type { InterceptsArgs } from './intercepts.js';
import type { CliIo } from './io.js';
import type { LeaveArgs } from './leave.js';
import type { LogsArgs } from './logs.js';
import type { MountArgs, UnmountArgs } from './mount.js';
import { renderError, UsageError } from './render-error.js';
import type { RunArgs } from './run.js';
import type { StatusArgs } from './status.js';
import type { UiArgs } from './ui.js';
import type { UpArgs } from './up.js';
import type { VersionArgs } from './version.js';

export interface GlobalArgs {
  stateDir?: string | undefined;
  runtimeDir?: string | undefined;
}

function scriptName(argv1: string | undefined): string {
  return argv1 && basename(argv1).startsWith('kubectl-vpn') ? 'kubectl vpn' : 'kvpn';
}

const EPILOG = 'Docs: docs/cli.md (commands, exit codes), docs/errors.md (every KVPN_ERR_* code).';

/** The flags `env` and `run` share: which workload, container and pod, through which kubeconfig. */
function workloadOptions<T>(y: Argv<T>) {
  return y
    .positional('workload', {
      type: 'string',
      demandOption: true,
      describe: 'deploy/NAME, sts/NAME, ds/NAME, rs/NAME, job/NAME, cronjob/NAME, pod/NAME, or a bare name',
    })
    .option('context', { type: 'string', describe: 'Kubeconfig context (default: the current context)' })
    .option('namespace', { alias: 'n', type: 'string', describe: "The workload's namespace (default: the context's)" })
    .option('kubeconfig', { type: 'string', describe: 'Kubeconfig file(s), ":"-separated' })
    .option('container', {
      alias: 'c',
      type: 'string',
      describe: 'Container (default: the default-container annotation, else the first)',
    })
    .option('pod', {
      type: 'string',
      describe: 'The running pod to read pod-dependent values from (default: a Ready one)',
    });
}

function build(args: string[], io: CliIo, setCode: (code: number) => void, failures: string[], argv1?: string): Argv {
  const name = scriptName(argv1);
  return yargs(args)
    .scriptName(name)
    .usage(
      `${name} <command> [options]\n\nReach Kubernetes Services and Pods from this machine as if it ran inside the cluster.`,
    )
    .option('state-dir', {
      type: 'string',
      describe: 'Where sessions keep their state files and logs (env KVPN_STATE_DIR)',
      global: true,
    })
    .option('runtime-dir', {
      type: 'string',
      describe: 'Where control sockets live (env KVPN_RUNTIME_DIR)',
      global: true,
    })
    .command(
      'up',
      'Connect this machine to a cluster (starts a background session)',
      (y) =>
        y
          .option('context', { type: 'string', describe: 'Kubeconfig context (default: the current context)' })
          .option('namespace', {
            alias: 'n',
            type: 'string',
            describe: "Namespace for the relay and DNS search (default: the context's)",
          })
          .option('kubeconfig', {
            type: 'string',
            describe: 'Kubeconfig file(s), ":"-separated (default: $KUBECONFIG, else ~/.kube/config)',
          })
          .option('also-proxy', {
            type: 'string',
            array: true,
            default: [],
            describe: 'Also route this CIDR or host name (resolved in the cluster); repeatable',
          })
          .option('never-proxy', {
            type: 'string',
            array: true,
            default: [],
            describe: 'Never route this CIDR, even if it is a cluster range; repeatable',
          })
          .option('relay-image', { type: 'string', describe: 'Image for the relay pod (default node:22-alpine)' })
          .option('dns', {
            choices: ['auto', 'resolved', 'resolvconf', 'off'] as const,
            default: 'auto' as const,
            describe: 'How cluster names reach this machine',
          })
          .option('dns-replace-symlink', {
            type: 'boolean',
            default: false,
            describe: 'With --dns resolvconf: replace a resolv.conf symlink owned by another tool (put back on down)',
          })
          .option('foreground', {
            type: 'boolean',
            default: false,
            describe: 'Stay attached; Ctrl-C or SIGTERM disconnects and cleans up',
          })
          .option('allow-conflicting', {
            type: 'boolean',
            default: false,
            describe: 'Route cluster ranges even where they overlap existing routes',
          })
          .option('device', { type: 'string', describe: 'TUN device name (default: the first free kvpnN)' })
          .option('mtu', { type: 'number', describe: 'TUN MTU (default 65520)' })
          .option('ui', {
            type: 'boolean',
            default: true,
            describe: 'Serve the inspection page on 127.0.0.1 (--no-ui: do not)',
          })
          .option('ui-port', { type: 'number', describe: 'First port for the inspection page (default 4040)' })
          .option('carrier', {
            choices: ['h2', 'mux'],
            describe: 'The tunnel carrier: HTTP/2 or the mux (tunnel protocol 2); docs/cli.md',
          })
          .option('handoff', { type: 'string', hidden: true })
          .example('$0 up --context staging', 'connect to the staging cluster')
          .example('$0 up --also-proxy 10.20.0.0/16 --also-proxy db.internal', 'route more ranges through the cluster'),
      async (argv) => setCode(await (await import('./up.js')).runUp(argv as unknown as UpArgs, io, name)),
    )
    .command(
      'ui',
      "Open the session's inspection page (connections, DNS, intercepted requests)",
      (y) =>
        y
          .option('context', { type: 'string', describe: 'The session of this context' })
          .option('print', { type: 'boolean', default: false, describe: 'Print the address instead of opening it' }),
      async (argv) => setCode(await (await import('./ui.js')).runUi(argv as unknown as UiArgs, io, name)),
    )
    .command(
      'status',
      'Show running sessions: ranges, DNS, relay, traffic',
      (y) =>
        y
          .option('json', { type: 'boolean', default: false, describe: 'Stable JSON (schema 1)' })
          .option('context', { type: 'string', describe: 'Only the session of this context' }),
      async (argv) => setCode(await (await import('./status.js')).runStatus(argv as unknown as StatusArgs, io, name)),
    )
    .command(
      'down',
      'Disconnect and undo every change (also after a crash)',
      (y) =>
        y
          .option('all', { type: 'boolean', default: false, describe: 'Stop every session' })
          .option('context', { type: 'string', describe: 'Stop the session of this context' })
          .option('handoff', { type: 'string', hidden: true }),
      async (argv) => setCode(await (await import('./down.js')).runDown(argv as unknown as DownArgs, io, name)),
    )
    .command(
      'logs',
      "Print a session's daemon log",
      (y) =>
        y
          .option('context', { type: 'string', describe: 'The session of this context' })
          .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing new lines' })
          .option('path', { type: 'boolean', default: false, describe: 'Print the log file path only' }),
      async (argv) => setCode(await (await import('./logs.js')).runLogs(argv as unknown as LogsArgs, io, name)),
    )
    .command(
      'expose <ports>',
      'Make 127.0.0.1:LOCALPORT reachable from the cluster as a Service (needs `up`)',
      (y) =>
        y
          .positional('ports', { type: 'string', describe: 'LOCALPORT[:PORT]: the local port, then the Service port' })
          .option('name', { type: 'string', describe: 'The Service name (default: kvpn-LOCALPORT)' })
          .option('protocol', {
            type: 'string',
            choices: ['tcp', 'udp'],
            default: 'tcp',
            describe: 'tcp, or udp (one flow per cluster source)',
          })
          .option('context', { type: 'string', describe: 'The session of this context (default: the only one)' })
          .option('json', { type: 'boolean', default: false, describe: 'Print the exposure as JSON' })
          .example('$0 expose 8080 --name quickstart', 'quickstart.NAMESPACE:8080 in the cluster reaches :8080 here'),
      async (argv) => setCode(await (await import('./expose.js')).runExpose(argv as unknown as ExposeArgs, io, name)),
    )
    .command(
      'intercept <workload>',
      "Send a workload's Service port (whole, or matching requests) to 127.0.0.1:LOCALPORT (needs `up`)",
      (y) =>
        y
          .positional('workload', {
            type: 'string',
            demandOption: true,
            describe: 'deploy/NAME, sts/NAME, … or a bare name: the workload whose Service is intercepted',
          })
          .option('port', {
            alias: 'p',
            type: 'string',
            demandOption: true,
            describe: 'LOCALPORT[:SERVICEPORT]: the local port, then the Service port (number or name)',
          })
          .option('header', {
            type: 'string',
            array: true,
            describe: 'Only requests with header NAME=VALUE (repeatable)',
          })
          .option('header-regex', {
            type: 'string',
            array: true,
            describe: 'Only requests whose header NAME matches REGEX in full (NAME=REGEX, repeatable)',
          })
          .option('path-prefix', { type: 'string', describe: 'Only requests whose path starts with this' })
          .option('service', { type: 'string', describe: 'The Service, when several select the workload' })
          .option('name', { type: 'string', describe: 'The intercept name (default: SERVICE-PORT)' })
          .option('router-image', { type: 'string', describe: 'Image of the router pod (default: node:22-alpine)' })
          .option('context', { type: 'string', describe: 'The session of this context (default: the only one)' })
          .option('json', { type: 'boolean', default: false, describe: 'Print the intercept as JSON' })
          .example(
            '$0 intercept deploy/web --port 8080:80 --header x-dev=alice',
            "alice's requests to web:80 reach :8080 here",
          ),
      async (argv) =>
        setCode(await (await import('./intercept.js')).runIntercept(argv as unknown as InterceptArgs, io, name)),
    )
    .command(
      'intercepts',
      'List who intercepts what in a namespace (every laptop), from the cluster',
      (y) =>
        y
          .option('context', { type: 'string', describe: 'Kubeconfig context (default: the current context)' })
          .option('namespace', { alias: 'n', type: 'string', describe: "Default: the context's namespace" })
          .option('kubeconfig', { type: 'string', describe: 'Kubeconfig file(s), ":"-separated' })
          .option('json', { type: 'boolean', default: false, describe: 'Print JSON' }),
      async (argv) =>
        setCode(await (await import('./intercepts.js')).runIntercepts(argv as unknown as InterceptsArgs, io)),
    )
    .command(
      'leave <name>',
      'End an exposure (its Service is deleted) or an intercept (the Service is restored when it was the last)',
      (y) =>
        y
          .positional('name', { type: 'string', describe: 'The exposure or intercept (see `kvpn status`)' })
          .option('context', { type: 'string', describe: 'The session of this context (default: the only one)' }),
      async (argv) => setCode(await (await import('./leave.js')).runLeave(argv as unknown as LeaveArgs, io, name)),
    )
    .command(
      'mount <workload> [dir]',
      "Show a workload container's volumes under DIR at their mount paths (needs `up`)",
      (y) =>
        y
          .positional('workload', {
            type: 'string',
            demandOption: true,
            describe: 'deploy/NAME, sts/NAME, pod/NAME … or a bare name',
          })
          .positional('dir', {
            type: 'string',
            describe: 'Where DIR/MOUNTPATH appear (empty or new; default: a fresh one under $XDG_RUNTIME_DIR)',
          })
          .option('container', { alias: 'c', type: 'string', describe: 'The container (default: the first)' })
          .option('pod', { type: 'string', describe: 'This pod of the workload (default: the newest Ready one)' })
          .option('rw', {
            type: 'boolean',
            default: false,
            describe: "Writable (where the pod's mount is): writes reach the pod's volumes",
          })
          .option('only', {
            type: 'string',
            array: true,
            describe: 'Only these volumes (name or mount path, repeatable)',
          })
          .option('name', { type: 'string', describe: 'The mount name (default: the workload name)' })
          .option('files-image', {
            type: 'string',
            describe: 'Image of the file server added to the pod as an ephemeral container (default: node:22-alpine)',
          })
          .option('context', { type: 'string', describe: 'The session of this context (default: the only one)' })
          .option('json', { type: 'boolean', default: false, describe: 'Print the mount as JSON' })
          .example('$0 mount deploy/web ./web-root', "web's /etc/config appears at ./web-root/etc/config"),
      async (argv) => setCode(await (await import('./mount.js')).runMount(argv as unknown as MountArgs, io, name)),
    )
    .command(
      'unmount <name>',
      'End a mount: its FUSE mounts detached, its directory put back',
      (y) =>
        y
          .positional('name', { type: 'string', describe: 'The mount (see `kvpn status`)' })
          .option('context', { type: 'string', describe: 'The session of this context (default: the only one)' }),
      async (argv) => setCode(await (await import('./mount.js')).runUnmount(argv as unknown as UnmountArgs, io, name)),
    )
    .command(
      'env <workload>',
      "Print a workload container's environment as the kubelet makes it",
      (y) =>
        workloadOptions(y)
          .option('format', {
            choices: FORMATS,
            default: 'dotenv' as const,
            describe: 'Output format: dotenv, sh (to source), docker (docker run --env-file), compose (env_file), json',
          })
          .option('output', {
            alias: 'o',
            type: 'string',
            describe: 'Write to this file (mode 0600) instead of stdout',
          })
          .option('skip-unrepresentable', {
            type: 'boolean',
            default: false,
            describe: 'Leave out variables the format cannot carry instead of failing',
          })
          .example('$0 env deploy/web -o web.env', "web's environment as a dotenv file")
          .example("sh -c '. ./web.sh; ./server'", 'after `$0 env deploy/web --format sh -o web.sh`'),
      async (argv) => setCode(await (await import('./env.js')).runEnv(argv as unknown as EnvArgs, io)),
    )
    .command(
      'run <workload> [command..]',
      "Run a command with a workload container's environment (needs `up` for that context)",
      (y) =>
        workloadOptions(y)
          .positional('command', { type: 'string', array: true, describe: 'The command and its arguments, after --' })
          .option('shell', { type: 'boolean', default: false, describe: 'Start your $SHELL instead of a command' })
          .option('all-env', {
            type: 'boolean',
            default: false,
            describe: "Let the workload's PATH, HOME, USER, SHELL, TERM replace yours too",
          })
          .option('mount', {
            type: 'boolean',
            default: false,
            describe: "Also the workload's volumes, at their real paths in a private mount namespace (Linux, root)",
          })
          .example("$0 run deploy/web -- sh -c 'curl http://$ECHO_SERVICE_HOST/'", "with web's environment"),
      async (argv) => setCode(await (await import('./run.js')).runRun(argv as unknown as RunArgs, io, name)),
    )
    .command(
      'doctor',
      'Check what `up` (and env, expose, intercept, mount) needs, without changing anything',
      (y) =>
        y
          .option('context', { type: 'string', describe: 'Kubeconfig context (default: the current context)' })
          .option('namespace', {
            alias: 'n',
            type: 'string',
            describe: "Namespace for the relay and the RBAC checks (default: the context's)",
          })
          .option('kubeconfig', {
            type: 'string',
            describe: 'Kubeconfig file(s), ":"-separated (default: $KUBECONFIG, else ~/.kube/config)',
          })
          .option('json', { type: 'boolean', default: false, describe: 'Print {checks: [...], ok} as JSON' })
          .option('deep', {
            type: 'boolean',
            default: false,
            describe: 'Also start one relay pod and port-forward to it (removed afterwards)',
          }),
      async (argv) => setCode(await (await import('./doctor.js')).runDoctor(argv as unknown as DoctorArgs, io)),
    )
    .command(
      'version',
      'Print the kvpn version',
      (y) => y.option('json', { type: 'boolean', default: false }),
      async (argv) => setCode(await (await import('./version.js')).runVersion(argv as unknown as VersionArgs, io)),
    )
    .command('__run-mounted <spec> [command..]', false, {}, async () => {
      setCode(await (await import('./run-mounted.js')).runInMountNamespace(process.argv));
    })
    .command('__exec-credential', false, {}, async () => {
      io.out(`${await (await import('../sessions/index.js')).execCredential()}\n`);
      setCode(EXIT.OK);
    })
    .completion('completion', 'Print a shell completion script (bash/zsh): source <(kvpn completion)')
    .demandCommand(1, 'Say what to do: up, status, down, logs, env, run, mount, doctor or version.')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .version(false)
    .epilogue(EPILOG)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((message, err) => {
      // A command's own error passes through. yargs reports "Did you mean …?" first, then the problem.
      if (err) throw err;
      if (message.startsWith('Did you mean')) {
        failures.push(message);
        return;
      }
      const hint = failures.length ? `${failures.join(' ')} ` : '';
      throw new UsageError(message, `${hint}See \`${name} --help\`.`);
    });
}

/** Runs one command line; resolves with the exit code. */
export async function runCli(rawArgs: string[], io: CliIo, argv1?: string): Promise<number> {
  const args = rawArgs.length === 1 && (rawArgs[0] === '--version' || rawArgs[0] === '-v') ? ['version'] : rawArgs;
  let code: number = EXIT.OK;
  const failures: string[] = [];
  const parser = build(
    args,
    io,
    (c) => {
      code = c;
    },
    failures,
    argv1,
  );
  try {
    const output = await new Promise<string>((resolve, reject) => {
      parser.parseAsync(args, {}, (err, _argv, out) => (err ? reject(err) : resolve(out))).catch(reject);
    });
    if (output) io.out(output.endsWith('\n') ? output : `${output}\n`);
    return code;
  } catch (err) {
    const rendered = renderError(err);
    io.err(rendered.text);
    return rendered.exitCode;
  }
}
