// `kvpn env WORKLOAD [-c C] [--pod P] [--format dotenv|sh|json] [-o FILE]`:
// the environment the kubelet gives the workload's container, for use on
// this machine. Values only a running pod knows are listed as unavailable
// (stderr, and comments/`unavailable` in the output), never guessed.
// `-o` writes mode 0600: the file may hold Secret values.
import { closeSync, fchmodSync, openSync, writeSync } from 'node:fs';
import { type EnvFormat, formatEnvironment, workloadEnvironment } from '../workload/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';

export interface EnvArgs extends GlobalArgs {
  workload: string;
  context?: string | undefined;
  namespace?: string | undefined;
  kubeconfig?: string | undefined;
  container?: string | undefined;
  pod?: string | undefined;
  format: EnvFormat;
  output?: string | undefined;
  skipUnrepresentable: boolean;
}

function writePrivate(file: string, text: string): void {
  const fd = openSync(file, 'w', 0o600);
  try {
    // An existing file keeps its mode on open: narrow it before the values go in.
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

export async function runEnv(args: EnvArgs, io: CliIo): Promise<number> {
  const env = await workloadEnvironment(
    { kubeconfig: args.kubeconfig, context: args.context, namespace: args.namespace },
    { workload: args.workload, container: args.container, pod: args.pod },
  );
  const formatted = formatEnvironment(
    args.format,
    env.entries,
    { workload: env.workload, namespace: env.namespace, container: env.container, pod: env.pod, context: env.context },
    args.skipUnrepresentable,
  );
  const unavailable = env.entries.filter((e) => e.value === undefined);
  for (const e of unavailable) io.err(`kvpn: ${e.name} is unavailable: ${e.unavailable}\n`);
  for (const s of formatted.skipped) io.err(`kvpn: ${s.name} left out: ${s.why}\n`);
  if (args.output) {
    writePrivate(args.output, formatted.text);
    const secrets = env.entries.filter((e) => e.fromSecret && e.value !== undefined).length;
    const written = env.entries.length - unavailable.length - formatted.skipped.length;
    io.err(
      `Wrote ${written} variables of ${env.workload} container ${env.container}${env.pod ? ` (pod ${env.pod})` : ''} to ${args.output} (mode 0600); ${secrets} from Secrets.\n`,
    );
  } else {
    io.out(formatted.text);
  }
  return EXIT.OK;
}
