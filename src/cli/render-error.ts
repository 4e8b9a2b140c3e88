// Errors as the user reads them: one sentence saying what went wrong, one
// saying how to fix it, and the code to look up in docs/errors.md.
import { KvpnError } from '../errors.js';
import { EXIT, exitCodeFor } from './exit-codes.js';

export interface RenderedError {
  text: string;
  exitCode: number;
  code: string;
}

function sentence(text: string): string {
  const trimmed = text.trim().replace(/\s+/g, ' ');
  if (!trimmed) return trimmed;
  const first = trimmed[0]?.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

export function renderError(err: unknown): RenderedError {
  if (err instanceof KvpnError) {
    const lines = [`kvpn: ${sentence(err.message)}`];
    if (err.remedy) lines.push(`  fix: ${sentence(err.remedy)}`);
    lines.push(`  (${err.code}, see docs/errors.md)`);
    return { text: `${lines.join('\n')}\n`, exitCode: exitCodeFor(err.code, err.category), code: err.code };
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return {
    text: `kvpn: internal error: ${message}\n  fix: This is a bug; please report it with the output of \`kvpn logs\`.\n  (KVPN_ERR_INTERNAL)\n`,
    exitCode: EXIT.INTERNAL,
    code: 'KVPN_ERR_INTERNAL',
  };
}

export class UsageError extends KvpnError {
  constructor(message: string, remedy?: string) {
    super('KVPN_ERR_USAGE', 'user', message, remedy ? { remedy } : { remedy: 'See `kvpn --help`.' });
  }
}
