// `kvpn intercepts [--namespace NS] [--json]`: who intercepts what in a
// namespace, read from the cluster (every laptop's intercepts, not only this
// one's); intercepts whose laptop stopped renewing are shown as stale.
import { type Lease, listInterceptsOf } from '../intercept/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';

export interface InterceptsArgs extends GlobalArgs {
  context?: string | undefined;
  namespace?: string | undefined;
  kubeconfig?: string | undefined;
  json: boolean;
}

function row(l: Lease): string[] {
  return [
    l.workload,
    `${l.service}:${l.servicePort}`,
    l.filter || '(whole)',
    l.owner,
    l.since,
    l.stale ? `stale (renewed ${l.renewed})` : 'active',
  ];
}

export async function runIntercepts(args: InterceptsArgs, io: CliIo): Promise<number> {
  const target = {
    ...(args.context ? { context: args.context } : {}),
    ...(args.namespace ? { namespace: args.namespace } : {}),
    ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}),
  };
  const { namespace, leases, restored } = await listInterceptsOf(target);
  for (const service of restored)
    io.err(`Restored Service ${service}: every laptop that intercepted it is gone (their leases went stale).\n`);
  if (args.json) {
    io.out(`${JSON.stringify({ namespace, intercepts: leases }, null, 2)}\n`);
    return EXIT.OK;
  }
  if (!leases.length) {
    io.out(`No intercepts in namespace ${namespace}.\n`);
    return EXIT.OK;
  }
  const rows = [['WORKLOAD', 'SERVICE:PORT', 'FILTER', 'OWNER', 'SINCE', 'STATE'], ...leases.map(row)];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const r of rows)
    io.out(
      `${r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}\n`,
    );
  return EXIT.OK;
}
