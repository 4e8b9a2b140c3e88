// Where the CLI writes. Commands never touch process.stdout directly, so
// tests can run them in-process and read exactly what a user would see.
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** True when stderr is a terminal (progress lines may be rewritten). */
  readonly interactive: boolean;
  readonly env: NodeJS.ProcessEnv;
}

export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    interactive: Boolean(process.stderr.isTTY),
    env: process.env,
  };
}

/** Collects output in memory (tests). */
export function memoryIo(env: NodeJS.ProcessEnv = process.env): CliIo & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    interactive: false,
    env,
    out(text: string) {
      io.stdout += text;
    },
    err(text: string) {
      io.stderr += text;
    },
  };
  return io;
}
