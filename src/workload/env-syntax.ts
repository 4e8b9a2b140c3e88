// One assignment per variable, written for the program that reads the file,
// and what each of those readers cannot be given (docs/env.md, "Output
// formats"). The readers' rules, as their code has them:
//   sh      a POSIX shell sourcing the file: '…' takes every byte but ', written '\''.
//   dotenv  Node's util.parseEnv (`node --env-file`) and the dotenv package: no CR;
//           '…', `…` and "…" carry anything but their own quote ("…" turns \n into a newline).
//   docker  `docker run --env-file` (docker/cli pkg/kvfile): one line per variable, taken
//           literally after the first =; UTF-8 only; no newline; a trailing CR is dropped;
//           a line is at most 64 KiB (bufio.Scanner's token limit).
//   compose Compose's env_file (compose-go dotenv): "…" with \\ \" \n \r escapes and
//           \$ for a literal $ (else ${…} is interpolated); names of letters, digits, _ . - [ ].
import type { EnvEntry } from './environment.js';

export const SYNTAXES = ['dotenv', 'sh', 'docker', 'compose'] as const;
export type EnvSyntax = (typeof SYNTAXES)[number];

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DOTENV_NAME = /^[\w.-]+$/;
// docker: a name is what precedes the first =, with no space or tab, not a # comment.
const DOCKER_NAME = /^[^\s\u0085=#][^ \t=\n\r]*$/u;
const COMPOSE_NAME = /^[\p{L}\p{N}_.[\]-]+$/u;
/** bufio.MaxScanTokenSize: a longer line stops docker's reader ("token too long"). */
const DOCKER_MAX_LINE_BYTES = 64 * 1024 - 1;

/** Why `syntax` cannot carry the entry, or undefined when it can. */
export function unrepresentable(syntax: EnvSyntax, e: EnvEntry): string | undefined {
  if (e.bytes) return 'not valid UTF-8';
  const value = e.value ?? '';
  switch (syntax) {
    case 'sh':
      return SHELL_NAME.test(e.name) ? undefined : 'not a shell variable name';
    case 'dotenv':
      if (!DOTENV_NAME.test(e.name)) return 'not a dotenv name';
      return dotenvQuote(value) === undefined
        ? 'holds a carriage return, or each of \', `, " and a backslash-n'
        : undefined;
    case 'docker':
      if (!DOCKER_NAME.test(e.name)) return 'not a name docker reads (a space, tab, = or a leading #)';
      if (value.includes('\n')) return 'holds a newline (docker env files have one line per variable)';
      if (value.endsWith('\r')) return 'ends in a carriage return (docker drops it)';
      if (Buffer.byteLength(`${e.name}=${value}`) > DOCKER_MAX_LINE_BYTES) return 'longer than a docker env-file line';
      return undefined;
    case 'compose':
      return COMPOSE_NAME.test(e.name) ? undefined : 'not a name Compose reads (letters, digits, _ . - [ ])';
  }
}

/** The assignment line(s) for an entry the syntax can carry. */
export function assignment(syntax: EnvSyntax, name: string, value: string): string {
  switch (syntax) {
    case 'sh':
      return `export ${name}=${shQuote(value)}`;
    case 'dotenv':
      return `${name}=${dotenvQuote(value)}`;
    case 'docker':
      return `${name}=${value}`;
    case 'compose':
      return `${name}=${composeQuote(value)}`;
  }
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

const COMPOSE_ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', $: '\\$', '\n': '\\n', '\r': '\\r' };

function composeQuote(value: string): string {
  return `"${value.replace(/[\\"$\n\r]/g, (c) => COMPOSE_ESCAPES[c] as string)}"`;
}
