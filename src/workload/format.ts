// An environment written for its consumer, so that what the consumer reads
// back equals the value byte for byte (docs/env.md, "Output formats"): the
// line syntaxes of env-syntax.ts, or json ({"schema":1,…,"env":{NAME:value}},
// non-UTF-8 values in envBase64). A value a format cannot carry fails naming
// the variable, unless skipped.
import { KvpnError } from '../errors.js';
import { assignment, SYNTAXES, unrepresentable } from './env-syntax.js';
import type { EnvEntry } from './environment.js';

export const FORMATS = [...SYNTAXES, 'json'] as const;
export type EnvFormat = (typeof FORMATS)[number];

export class UnrepresentableError extends KvpnError {
  readonly variables: string[];
  constructor(format: EnvFormat, problems: { name: string; why: string }[]) {
    const list = problems.map((p) => `${p.name} (${p.why})`).join(', ');
    super('KVPN_ERR_ENV_UNREPRESENTABLE', 'user', `the ${format} format cannot carry ${list}`, {
      remedy: 'Use --format json, or pass --skip-unrepresentable to leave those variables out.',
    });
    this.variables = problems.map((p) => p.name);
  }
}

export interface FormatHeader {
  workload: string;
  namespace: string;
  container: string;
  pod: string | undefined;
  context: string;
}

export interface Formatted {
  text: string;
  skipped: { name: string; why: string }[];
}

export function formatEnvironment(
  format: EnvFormat,
  entries: readonly EnvEntry[],
  header: FormatHeader,
  skipUnrepresentable: boolean,
): Formatted {
  const known = entries.filter((e) => e.value !== undefined);
  const unavailable = entries.filter((e) => e.value === undefined);
  if (format === 'json') {
    const env: Record<string, string> = {};
    const envBase64: Record<string, string> = {};
    for (const e of known) {
      if (e.bytes) envBase64[e.name] = e.bytes.toString('base64');
      else env[e.name] = e.value as string;
    }
    const doc = {
      schema: 1,
      ...header,
      pod: header.pod ?? null,
      env,
      envBase64,
      unavailable: unavailable.map((e) => ({ name: e.name, source: e.source, reason: e.unavailable })),
      fromSecrets: known.filter((e) => e.fromSecret).map((e) => e.name),
    };
    return { text: `${JSON.stringify(doc, null, 2)}\n`, skipped: [] };
  }
  const problems = known.flatMap((e) => {
    const why = unrepresentable(format, e);
    return why ? [{ name: e.name, why }] : [];
  });
  if (problems.length && !skipUnrepresentable) throw new UnrepresentableError(format, problems);
  const skip = new Set(problems.map((p) => p.name));
  const lines = [
    `# kvpn env: ${header.workload} container ${header.container}, namespace ${header.namespace}, context ${header.context}${header.pod ? `, pod ${header.pod}` : ', no running pod'}`,
  ];
  for (const e of unavailable) lines.push(`# unavailable: ${e.name}: ${e.unavailable?.replaceAll('\n', ' ')}`);
  for (const p of problems) lines.push(`# skipped: ${p.name}: ${p.why}`);
  for (const e of known) {
    if (skip.has(e.name)) continue;
    const value = e.value as string;
    lines.push(assignment(format, e.name, value));
  }
  return { text: `${lines.join('\n')}\n`, skipped: problems };
}
