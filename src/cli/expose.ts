// `kvpn expose LOCALPORT[:PORT] [--name NAME] [--protocol tcp] [--context C]`:
// asks the running session to create a Service whose connections arrive at
// 127.0.0.1:LOCALPORT here. `kvpn leave NAME` or `kvpn down` removes it.
import { askSession, type ExposureStatus, resolveDirs } from '../sessions/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';
import { UsageError } from './render-error.js';

export interface ExposeArgs extends GlobalArgs {
  ports: string;
  name?: string | undefined;
  protocol: string;
  context?: string | undefined;
  json: boolean;
}

/** `8080` or `8080:80` (local port, then the Service port). */
export function parsePorts(text: string): { localPort: number; port: number } {
  const m = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(text);
  const localPort = Number(m?.[1]);
  const port = m?.[2] === undefined ? localPort : Number(m[2]);
  const valid = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (!m || !valid(localPort) || !valid(port))
    throw new UsageError(`"${text}" is not LOCALPORT[:PORT] (ports 1-65535), e.g. 8080 or 3000:80`);
  return { localPort, port };
}

export async function runExpose(args: ExposeArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  const { localPort, port } = parsePorts(args.ports);
  const exposure = await askSession<ExposureStatus>(
    resolveDirs(args, io.env),
    args.context,
    'expose',
    { localPort, port, name: args.name, protocol: args.protocol },
    command,
  );
  if (args.json) {
    io.out(`${JSON.stringify(exposure, null, 2)}\n`);
    return EXIT.OK;
  }
  io.out(
    `Exposed 127.0.0.1:${exposure.localPort}${exposure.protocol === 'udp' ? '/udp' : ''} as Service ${exposure.name} in namespace ${exposure.namespace}.\n` +
      `  In the cluster: ${exposure.address} (${exposure.name}.${exposure.namespace}.svc.cluster.local:${exposure.port})\n` +
      `  End it with \`${command} leave ${exposure.name}\` (\`${command} down\` ends it too).\n`,
  );
  return EXIT.OK;
}
