// Bundles the programs that run inside pods (and the netns agent) into
// self-contained .mjs files in the world's programs directory. The only
// importer of esbuild in test/cluster.
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ENTRIES = ['agent', 'dns-server-main', 'echo', 'laptop-upstream-main', 'udp-echo'];

export interface Programs {
  dir: string;
  agent: string;
  dnsServer: string;
  echo: string;
  /** An added laptop's system resolver (real/added-laptop.ts). */
  laptopUpstream: string;
  udpEcho: string;
}

export async function buildPrograms(outDir: string): Promise<Programs> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: ENTRIES.map((e) => join(HERE, `${e}.ts`)),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    logLevel: 'silent',
    banner: {
      js: "import { createRequire as __kvpnRequire } from 'node:module'; const require = __kvpnRequire(import.meta.url);",
    },
  });
  await copyFile(join(HERE, 'postgres-entrypoint.sh'), join(outDir, 'postgres-entrypoint.sh'));
  return {
    dir: outDir,
    agent: join(outDir, 'agent.mjs'),
    dnsServer: join(outDir, 'dns-server-main.mjs'),
    echo: join(outDir, 'echo.mjs'),
    laptopUpstream: join(outDir, 'laptop-upstream-main.mjs'),
    udpEcho: join(outDir, 'udp-echo.mjs'),
  };
}
