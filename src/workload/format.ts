// An environment written for its consumer, so that what the consumer reads
// back equals the value byte for byte (docs/env.md, "Output formats"):
//   sh      `export NAME='…'` for `. FILE` in any POSIX shell ('…' takes every byte but ', written '\'')
//   dotenv  NAME='…' / NAME=`…` / NAME="…", the first quoting that carries the value (no CR)
//           (Node's --env-file / util.parseEnv and the dotenv package read these alike)
//   json    {"schema":1,…,"env":{NAME:value}}, JSON.parse gives the values back
// A value a format cannot carry fails naming the variable, unless skipped.
import { KvpnError } from '../errors.js';
import type { EnvEntry } from './environment.js';

export const FORMATS = ['dotenv', 'sh', 'json'] as const;
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

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DOTENV_NAME = /^[\w.-]+$/;

/** Why `format` cannot carry the entry, or undefined when it can. */
function problem(format: EnvFormat, e: EnvEntry): string | undefined {
  if (e.bytes) return 'not valid UTF-8';
  if (format === 'sh' && !SHELL_NAME.test(e.name)) return 'not a shell variable name';
  if (format === 'dotenv') {
    if (!DOTENV_NAME.test(e.name)) return 'not a dotenv name';
    if (dotenvQuote(e.value ?? '') === undefined)
      return 'holds a carriage return, or each of \', `, " and a backslash-n';
  }
  return undefined;
}

/** The first dotenv quoting whose reader gives `value` back. */
export function dotenvQuote(value: string): string | undefined {
  // Readers turn CR LF into LF before parsing, and Node's reader has no escape for CR.
  if (value.includes('\r')) return undefined;
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('`')) return `\`${value}\``;
  // In "…" the reader turns \n into a newline: a literal backslash-n cannot be written there.
  if (!value.includes('"') && !value.includes('\\n')) return `"${value}"`;
  return undefined;
}

function shQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
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
    const why = problem(format, e);
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
    lines.push(format === 'sh' ? `export ${e.name}=${shQuote(value)}` : `${e.name}=${dotenvQuote(value)}`);
  }
  return { text: `${lines.join('\n')}\n`, skipped: problems };
}
