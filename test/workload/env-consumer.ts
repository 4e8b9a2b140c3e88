// docker's and Compose's own env-file readers (consumers/main.go, built from
// the Go module proxy by consumers/build.sh): what `docker run --env-file`
// and a Compose service's env_file would give the container.
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BUILD = fileURLToPath(new URL('./consumers/build.sh', import.meta.url));

let binary: string | undefined;

function consumer(): string {
  binary ??= execFileSync('bash', [BUILD], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  return binary;
}

export type ReadBack = { ok: true; env: Record<string, string> } | { ok: false; error: string };

/** The variables `reader` reads from `file`, with `env` as its process environment. */
export function readBack(reader: 'docker' | 'compose', file: string, env: NodeJS.ProcessEnv = {}): Promise<ReadBack> {
  const bin = consumer();
  return new Promise((resolve) => {
    execFile(bin, [reader, file], { env, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) resolve({ ok: false, error: stderr.trim() || err.message });
      else resolve({ ok: true, env: JSON.parse(stdout) });
    });
  });
}
