// `kvpn up`: check the input, get root (sudo) without giving root the
// user's credentials, refuse a second session for the same context (and
// clean up after a crashed one), then start the session — as a daemon, or
// attached with --foreground — printing each step and a summary.
import { isCidr } from '../net/cidr.js';
import {
  absoluteKubeconfig,
  anyFailed,
  type DnsMode,
  invokingUser,
  isRoot,
  preflight,
  readHandoff,
  resolveDirs,
  runForeground,
  type SessionDirs,
  type SessionSummary,
  type StartRequest,
  startDaemon,
  type UndoOutcome,
} from '../sessions/index.js';
import type { GlobalArgs } from './app.js';
import { renderOutcomes } from './down.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';
import { reexecWithSudo } from './privilege.js';
import { progressPrinter, renderSummary } from './progress.js';
import { UsageError } from './render-error.js';
import { formatDegradation } from './status.js';

export interface UpArgs extends GlobalArgs {
  context?: string | undefined;
  namespace?: string | undefined;
  kubeconfig?: string | undefined;
  alsoProxy: string[];
  neverProxy: string[];
  relayImage?: string | undefined;
  dns: DnsMode;
  dnsReplaceSymlink: boolean;
  foreground: boolean;
  allowConflicting: boolean;
  device?: string | undefined;
  mtu?: number | undefined;
  /** yargs turns --no-ui into ui: false. */
  ui: boolean;
  uiPort?: number | undefined;
  carrier?: 'h2' | 'mux' | undefined;
  handoff?: string | undefined;
}

const WHY_ROOT = 'to create the TUN device, routes and resolver settings';
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** Splits comma-separated values and checks each; host names are allowed only where `hosts`. */
export function parseTargets(values: readonly string[], flag: string, hosts: boolean): string[] {
  const out: string[] = [];
  for (const v of values.flatMap((x) => String(x).split(','))) {
    const value = v.trim();
    if (!value) continue;
    if (isCidr(value) || (hosts && HOST_NAME.test(value) && !/^[\d.]+$/.test(value))) out.push(value);
    else {
      throw new UsageError(
        `${flag} "${value}" is not ${hosts ? 'a CIDR or a host name' : 'a CIDR'}`,
        hosts
          ? 'Use a range like 10.20.0.0/16, an address, or a DNS name.'
          : 'Use a range like 10.20.0.0/16 or an address.',
      );
    }
  }
  return out;
}

function forwardedArgs(args: UpArgs, dirs: SessionDirs): string[] {
  const out: string[] = [];
  const kubeconfig = absoluteKubeconfig(args.kubeconfig);
  if (args.context !== undefined) out.push('--context', args.context);
  if (args.namespace !== undefined) out.push('--namespace', args.namespace);
  if (kubeconfig !== undefined) out.push('--kubeconfig', kubeconfig);
  for (const a of args.alsoProxy) out.push('--also-proxy', a);
  for (const n of args.neverProxy) out.push('--never-proxy', n);
  if (args.relayImage !== undefined) out.push('--relay-image', args.relayImage);
  out.push('--dns', args.dns);
  if (args.dnsReplaceSymlink) out.push('--dns-replace-symlink');
  if (args.foreground) out.push('--foreground');
  if (args.allowConflicting) out.push('--allow-conflicting');
  if (args.device !== undefined) out.push('--device', args.device);
  if (args.mtu !== undefined) out.push('--mtu', String(args.mtu));
  if (args.ui === false) out.push('--no-ui');
  if (args.uiPort !== undefined) out.push('--ui-port', String(args.uiPort));
  if (args.carrier !== undefined) out.push('--carrier', args.carrier);
  out.push('--state-dir', dirs.stateDir, '--runtime-dir', dirs.runtimeDir);
  return out;
}

/** KVPN_CARRIER=h2|mux picks the carrier when --carrier does not; anything else is a usage error. */
function carrierFromEnv(value: string | undefined): 'h2' | 'mux' | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'h2' || value === 'mux') return value;
  throw new UsageError(`KVPN_CARRIER=${value} is not a carrier`, 'Use h2 or mux, or unset it.');
}

/** One warning line per optional read RBAC refused (the session works, less well). */
function degradedLines(summary: SessionSummary): string {
  return (summary.degradations ?? []).map((d) => `  ! degraded: ${formatDegradation(d)}\n`).join('');
}

export async function runUp(args: UpArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  const carrier = args.carrier ?? carrierFromEnv(io.env.KVPN_CARRIER);
  const alsoProxy = parseTargets(args.alsoProxy, '--also-proxy', true);
  const neverProxy = parseTargets(args.neverProxy, '--never-proxy', false);
  if (args.mtu !== undefined && (!Number.isInteger(args.mtu) || args.mtu < 1280 || args.mtu > 65535)) {
    throw new UsageError(`--mtu ${args.mtu} is out of range`, 'Use an MTU between 1280 and 65535.');
  }
  if (args.uiPort !== undefined && (!Number.isInteger(args.uiPort) || args.uiPort < 1 || args.uiPort > 65535)) {
    throw new UsageError(`--ui-port ${args.uiPort} is not a port`, 'Use a port between 1 and 65535, or --no-ui.');
  }
  const dirs = resolveDirs(args, io.env);
  if (!isRoot()) {
    await preflight({ kubeconfig: args.kubeconfig, context: args.context, namespace: args.namespace });
    return reexecWithSudo('up', forwardedArgs({ ...args, carrier }, dirs), WHY_ROOT, io);
  }
  const handoff = args.handoff === 'stdin' ? await readHandoff() : undefined;
  const user = invokingUser(io.env, handoff);
  // The session reads the kubeconfig itself (this process stays light: it only starts it).
  const request: StartRequest = {
    kubeconfig: args.kubeconfig,
    context: args.context,
    namespace: args.namespace,
    dirs,
    alsoProxy,
    neverProxy,
    relayImage: args.relayImage,
    dns: args.dns,
    dnsReplaceSymlink: args.dnsReplaceSymlink,
    allowConflictingRoutes: args.allowConflicting,
    tunName: args.device,
    mtu: args.mtu,
    noUi: args.ui === false,
    uiPort: args.uiPort,
    carrier,
  };
  io.err(`Connecting${args.context ? ` to context "${args.context}"` : ''}…\n`);
  const hooks = {
    env: io.env,
    onProgress: progressPrinter(io),
    onPreviousCleaned: (outcomes: UndoOutcome[]) =>
      io.err(
        `  a previous session for this context did not stop cleanly; removed what it left:\n${renderOutcomes(outcomes)}`,
      ),
  };
  if (args.foreground) {
    const { summary, outcomes } = await runForeground(request, user, {
      ...hooks,
      onReady: (s) => {
        io.err(degradedLines(s));
        io.out(renderSummary(s, command, true));
      },
      onDisconnecting: () => io.err('\nDisconnecting…\n'),
      onDebugLog: (line) => io.err(line),
    });
    io.out(`Disconnected from ${summary.context}:\n${renderOutcomes(outcomes)}`);
    return anyFailed(outcomes) ? EXIT.SYSTEM : EXIT.OK;
  }
  const summary = await startDaemon(request, user, hooks);
  io.err(degradedLines(summary));
  io.out(renderSummary(summary, command, false));
  return EXIT.OK;
}
