// How to run kvpn again (through sudo, as the daemon, as the credential
// helper): the same node binary and the same entry point, from dist/ when
// installed, or the TypeScript sources through the test loader in a checkout.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Command {
  command: string;
  args: string[];
}

function fromHere(relative: string): string {
  return fileURLToPath(new URL(relative, import.meta.url));
}

/** node [loader] <module>: for a module of this package given relative to src/host. */
export function nodeModuleCommand(relativeJs: string): Command {
  if (import.meta.url.endsWith('.ts')) {
    const loader = fromHere('../../scripts/ts-loader.mjs');
    const source = fromHere(relativeJs.replace(/\.js$/, '.ts'));
    return { command: process.execPath, args: existsSync(loader) ? ['--import', loader, source] : [source] };
  }
  return { command: process.execPath, args: [fromHere(relativeJs)] };
}

/** The kvpn CLI itself. */
export function selfCommand(): Command {
  return nodeModuleCommand('../cli/main.js');
}
