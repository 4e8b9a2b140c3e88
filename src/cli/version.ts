// `kvpn version`: the package version, Node and platform; --json for tools.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TUNNEL_PROTOCOL_VERSION } from '../relay/protocol.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';

export interface VersionArgs {
  json: boolean;
}

/** The version in the nearest package.json above this file (works from src/ and dist/src/). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'kvpn' && pkg.version) return pkg.version;
    }
    dir = dirname(dir);
  }
  return '0.0.0-unknown';
}

export async function runVersion(args: VersionArgs, io: CliIo): Promise<number> {
  const info = {
    version: packageVersion(),
    tunnelProtocol: TUNNEL_PROTOCOL_VERSION,
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
  };
  if (args.json) io.out(`${JSON.stringify(info)}\n`);
  else io.out(`kvpn ${info.version} (tunnel protocol ${info.tunnelProtocol}, node ${info.node}, ${info.platform})\n`);
  return EXIT.OK;
}
