// `kvpn doctor [--context C] [-n NS] [--kubeconfig F] [--json] [--deep]`:
// what `kvpn up` (and env, expose, intercept, mount) needs, checked without
// changing anything (src/doctor). One line per check — ✓ ok, ✗ missing for
// `up`, ! missing for an optional feature, - not checked — with the fix
// under it. Exits non-zero (by the category of the first failure) when
// something `up` needs is missing; warnings alone exit 0.
import { allRequiredOk, type CheckResult, runChecks } from '../doctor/index.js';
import { findSudo, isRoot } from '../sessions/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import type { CliIo } from './io.js';

export interface DoctorArgs extends GlobalArgs {
  context?: string | undefined;
  namespace?: string | undefined;
  kubeconfig?: string | undefined;
  json: boolean;
  deep: boolean;
}

export const MARKS: Record<CheckResult['status'], string> = { ok: '✓', fail: '✗', warn: '!', skip: '-' };

export function renderCheck(r: CheckResult): string {
  const line = `  ${MARKS[r.status]} ${r.title}: ${r.detail}\n`;
  return r.fix && (r.status === 'fail' || r.status === 'warn') ? `${line}      fix: ${r.fix}\n` : line;
}

/** The exit code for these results: OK, else by the first failure's category (config when it has none). */
export function doctorExitCode(results: readonly CheckResult[]): number {
  const first = results.find((r) => r.status === 'fail');
  if (!first) return EXIT.OK;
  return exitCodeFor(first.code ?? '', first.category ?? 'config');
}

function sudoOnPath(env: NodeJS.ProcessEnv): string | undefined {
  try {
    return findSudo('up', 'for the TUN device, routes and resolver', env);
  } catch {
    return undefined;
  }
}

export async function runDoctor(args: DoctorArgs, io: CliIo, run: typeof runChecks = runChecks): Promise<number> {
  const target = {
    ...(args.context ? { context: args.context } : {}),
    ...(args.namespace ? { namespace: args.namespace } : {}),
    ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}),
  };
  // Ctrl-C during --deep: the relay pod is still removed before we exit.
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new Error('interrupted'));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let results: CheckResult[];
  try {
    if (!args.json) io.out('kvpn doctor: what `kvpn up` needs, checked without changing anything\n');
    results = await run({
      target,
      deep: args.deep,
      root: isRoot(),
      sudo: isRoot() ? undefined : sudoOnPath(io.env),
      signal: abort.signal,
      onResult: args.json ? undefined : (r) => io.out(renderCheck(r)),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const ok = allRequiredOk(results);
  if (args.json) {
    io.out(`${JSON.stringify({ checks: results, ok }, null, 2)}\n`);
  } else {
    const failed = results.filter((r) => r.status === 'fail').length;
    const warned = results.filter((r) => r.status === 'warn').length;
    const warnings = warned ? `; ${warned} optional feature${warned === 1 ? '' : 's'} missing (!)` : '';
    io.out(
      ok
        ? `kvpn up should work${warnings}.\n`
        : `kvpn up would fail: ${failed} problem${failed === 1 ? '' : 's'} (✗) to fix${warnings}.\n`,
    );
  }
  return doctorExitCode(results);
}
