// One check's answer, as `kvpn doctor` prints it: ✓ ok, ✗ fail (something
// `kvpn up` needs is missing), ! warn (an optional feature is), - skip (not
// checkable here, or an earlier check failed). A failure carries the
// category of what caused it, which decides doctor's exit code.
import { type ErrorCategory, KvpnError } from '../errors.js';

export type CheckStatus = 'ok' | 'fail' | 'warn' | 'skip';

export interface CheckResult {
  id: string;
  title: string;
  status: CheckStatus;
  /** One line: what was found. */
  detail: string;
  /** One line: what to do about a fail or warn. */
  fix?: string;
  /** Whose move a failure is (user, config, cluster, system, internal). */
  category?: ErrorCategory;
  /** The KVPN_ERR_* code of the error behind a failure, when one error caused it. */
  code?: string;
}

export function ok(id: string, title: string, detail: string): CheckResult {
  return { id, title, status: 'ok', detail };
}

export function skip(id: string, title: string, detail: string): CheckResult {
  return { id, title, status: 'skip', detail };
}

export function fail(id: string, title: string, detail: string, category: ErrorCategory, fix?: string): CheckResult {
  return { id, title, status: 'fail', detail, category, ...(fix ? { fix } : {}) };
}

export function warn(id: string, title: string, detail: string, fix?: string): CheckResult {
  return { id, title, status: 'warn', detail, ...(fix ? { fix } : {}) };
}

/** A failure from a thrown error: its message on one line, its remedy as the fix. */
export function failFrom(id: string, title: string, err: unknown, fallback: ErrorCategory = 'internal'): CheckResult {
  const detail = oneLine(err instanceof Error ? err.message : String(err));
  if (err instanceof KvpnError) {
    return { ...fail(id, title, detail, err.category, err.remedy ? oneLine(err.remedy) : undefined), code: err.code };
  }
  return fail(id, title, detail, fallback);
}

export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
