// Errors from talking to the Kubernetes API, with the API's own Status
// (reason, message, code) kept so the CLI can say what the cluster said.
import { KvpnError } from '../errors.js';

export interface ApiStatus {
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: { message?: string; field?: string }[] };
}

export function readStatus(body: Buffer): ApiStatus {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    if (parsed && typeof parsed === 'object') return parsed as ApiStatus;
  } catch {}
  const text = body.toString('utf8').trim().slice(0, 500);
  return text ? { message: text } : {};
}

function codeFor(status: number): `KVPN_ERR_${string}` {
  if (status === 401) return 'KVPN_ERR_API_UNAUTHORIZED';
  if (status === 403) return 'KVPN_ERR_API_FORBIDDEN';
  if (status === 404) return 'KVPN_ERR_API_NOT_FOUND';
  if (status === 409) return 'KVPN_ERR_API_CONFLICT';
  if (status === 410) return 'KVPN_ERR_API_GONE';
  return 'KVPN_ERR_API';
}

function remedyFor(status: number): string | undefined {
  if (status === 401)
    return 'Your credentials were rejected or expired: log in again (e.g. refresh your cloud CLI login) and retry.';
  if (status === 403) return 'Ask a cluster admin for the namespace-scoped Role in docs/rbac.md.';
  return undefined;
}

export class KubeApiError extends KvpnError {
  readonly status: number;
  readonly reason: string | undefined;
  readonly apiMessage: string;
  readonly method: string;
  readonly path: string;

  constructor(method: string, path: string, status: number, body: ApiStatus, cause?: unknown) {
    const apiMessage = body.message ?? `HTTP ${status}`;
    const remedy = remedyFor(status);
    super(codeFor(status), status === 401 || status === 403 ? 'user' : 'cluster', `${method} ${path}: ${apiMessage}`, {
      cause,
      ...(remedy ? { remedy } : {}),
    });
    this.status = status;
    this.reason = body.reason;
    this.apiMessage = apiMessage;
    this.method = method;
    this.path = path;
  }

  /** The RBAC verb and resource (`pods/portforward`, `deployments.apps`) a 403 names; '?' where it does not. */
  missingRight(): { verb: string; resource: string } {
    const m = /cannot (\w+) resource "([^"]+)"(?: in API group "([^"]*)")?/.exec(this.apiMessage);
    return { verb: m?.[1] ?? '?', resource: m?.[3] ? `${m[2]}.${m[3]}` : (m?.[2] ?? '?') };
  }
}

export class KubeUnreachableError extends KvpnError {
  constructor(server: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super('KVPN_ERR_API_UNREACHABLE', 'cluster', `cannot reach the Kubernetes API at ${server}: ${detail}`, {
      cause,
      remedy: 'Check your network/VPN to the cluster and that `kubectl get ns` works.',
    });
  }
}
