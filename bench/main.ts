// `npm run bench -- <name> [--json] [bench options]`: runs one benchmark
// (or all of them with no name) and prints its table or its JSON figures.
// Each bench/<name>.ts exports `run(args: string[]): Promise<BenchReport>`.
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAEMON_NODE_FLAGS } from '../src/daemon/launch.js';
import { type BenchReport, printReport } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['main.ts', 'report.ts'].includes(f) && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

// Benchmarks run kvpn's code in this process: it must run as the daemon does
// (V8's collector alone can double the CPU per GiB; see DAEMON_NODE_FLAGS).
const missingFlags = DAEMON_NODE_FLAGS.filter((flag) => !process.execArgv.includes(flag));
if (missingFlags.length > 0) {
  process.stderr.write(
    `benchmarks run under the daemon's Node flags; missing ${missingFlags.join(' ')} (use npm run bench, or fix package.json's bench script)\n`,
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const json = args.includes('--json');
const rest = args.filter((a) => a !== '--json');
const name = rest[0] && !rest[0].startsWith('-') ? rest.shift() : undefined;

if (name === 'help' || args.includes('--help')) {
  process.stdout.write(`usage: npm run bench -- [${available.join('|')}] [--json]\n`);
  process.exit(0);
}
if (name !== undefined && !available.includes(name)) {
  process.stderr.write(`unknown benchmark "${name}"; available: ${available.join(', ')}\n`);
  process.exit(2);
}
for (const bench of name ? [name] : available) {
  const mod = (await import(`./${bench}.ts`)) as { run(args: string[]): Promise<BenchReport> };
  const report = await mod.run(rest);
  printReport(report, json);
}
