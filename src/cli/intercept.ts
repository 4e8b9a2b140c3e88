// `kvpn intercept WORKLOAD --port LOCALPORT[:SERVICEPORT] [--header N=V]…`:
// asks the running session to send the workload's Service port (whole, or
// the requests that match) to 127.0.0.1:LOCALPORT here. `kvpn leave NAME`
// or `kvpn down` ends it.
import { askSession, type InterceptStatus, resolveDirs } from '../sessions/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';
import { UsageError } from './render-error.js';

export interface InterceptArgs extends GlobalArgs {
  workload: string;
  port: string;
  header?: string[] | undefined;
  headerRegex?: string[] | undefined;
  pathPrefix?: string | undefined;
  service?: string | undefined;
  name?: string | undefined;
  routerImage?: string | undefined;
  context?: string | undefined;
  json: boolean;
}

/** `8080` or `8080:80` / `8080:http` (the local port, then the Service port by number or name). */
export function parseInterceptPorts(text: string): { localPort: number; port?: string } {
  const m = /^(\d{1,5})(?::([a-z0-9][a-z0-9-]{0,62}))?$/.exec(text);
  const localPort = Number(m?.[1]);
  if (!m || localPort < 1 || localPort > 65535)
    throw new UsageError(`--port "${text}" is not LOCALPORT[:SERVICEPORT], e.g. 8080 or 8080:80 or 8080:http`);
  return m[2] === undefined ? { localPort } : { localPort, port: m[2] };
}

const list = (v: string | string[] | undefined): string[] | undefined =>
  v === undefined ? undefined : Array.isArray(v) ? v : [v];

export async function runIntercept(args: InterceptArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  const ports = parseInterceptPorts(args.port);
  const status = await askSession<InterceptStatus>(
    resolveDirs(args, io.env),
    args.context,
    'intercept',
    {
      workload: args.workload,
      localPort: ports.localPort,
      port: ports.port,
      service: args.service,
      name: args.name,
      headers: list(args.header),
      headerRegexes: list(args.headerRegex),
      pathPrefix: args.pathPrefix,
      routerImage: args.routerImage,
    },
    command,
  );
  if (args.json) {
    io.out(`${JSON.stringify(status, null, 2)}\n`);
    return EXIT.OK;
  }
  const what = status.filter ? `requests matching ${status.filter}` : 'every connection';
  io.out(
    `Intercepting ${status.workload}: ${what} to Service ${status.service}:${status.servicePort} in namespace ${status.namespace} now reach 127.0.0.1:${status.localPort}.\n` +
      (status.filter ? '  Every other request still goes to its pods.\n' : '') +
      `  End it with \`${command} leave ${status.name}\` (\`${command} down\` ends it too).\n`,
  );
  return EXIT.OK;
}
