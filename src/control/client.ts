// The CLI's end of the control socket: connect, send one request, wait for
// its response. A missing or dead socket is a NoSessionError, not a crash.
import net from 'node:net';
import { KvpnError, systemErrorCode } from '../errors.js';
import { type ControlMethod, type ControlResponse, LineSplitter, parseResponse } from './protocol.js';

export const CONTROL_TIMEOUT_MS = 10_000;

export class DaemonUnreachableError extends KvpnError {
  readonly socketCode: string | undefined;
  constructor(path: string, cause: unknown) {
    const code = systemErrorCode(cause);
    const why =
      code === 'EACCES'
        ? 'permission denied (the session belongs to another user)'
        : code === 'ENOENT' || code === 'ECONNREFUSED'
          ? 'no daemon is listening'
          : (cause as Error).message;
    super('KVPN_ERR_DAEMON_UNREACHABLE', 'system', `cannot talk to the kvpn daemon at ${path}: ${why}`, {
      cause,
      remedy:
        code === 'EACCES'
          ? 'Run the command as the user who started the session, or with sudo.'
          : 'If the daemon crashed, `kvpn down` removes what it left behind.',
    });
    this.socketCode = code;
  }
}

export class RemoteError extends KvpnError {
  constructor(code: string, category: string, message: string, remedy: string | undefined) {
    super(
      (code.startsWith('KVPN_ERR_') ? code : 'KVPN_ERR_INTERNAL') as `KVPN_ERR_${string}`,
      (['user', 'config', 'cluster', 'system', 'internal'].includes(category) ? category : 'internal') as 'internal',
      message,
      remedy ? { remedy } : {},
    );
  }
}

/** Sends one request and resolves with its result. */
export async function callDaemon<T>(
  path: string,
  method: ControlMethod,
  params?: Record<string, unknown>,
  timeoutMs = CONTROL_TIMEOUT_MS,
): Promise<T> {
  const socket = net.connect(path);
  socket.setEncoding('utf8');
  try {
    const response = await new Promise<ControlResponse>((resolve, reject) => {
      const lines = new LineSplitter();
      const timer = setTimeout(
        () => reject(new DaemonUnreachableError(path, new Error(`no answer within ${timeoutMs} ms`))),
        timeoutMs,
      );
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        fn();
      };
      socket.once('connect', () => socket.write(`${JSON.stringify({ id: 1, method, params })}\n`));
      socket.on('data', (chunk: string) => {
        for (const line of lines.push(chunk) ?? []) {
          const r = parseResponse(line);
          if (r?.id === 1) finish(() => resolve(r));
        }
      });
      socket.once('error', (err) => finish(() => reject(new DaemonUnreachableError(path, err))));
      socket.once('close', () =>
        finish(() => reject(new DaemonUnreachableError(path, new Error('the daemon closed the connection')))),
      );
    });
    if (response.error) {
      const e = response.error;
      throw new RemoteError(e.code, e.category ?? 'internal', e.message, e.remedy);
    }
    return response.result as T;
  } finally {
    socket.destroy();
  }
}
