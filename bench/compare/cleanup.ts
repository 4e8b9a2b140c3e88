// Everything `npm run bench -- compare` creates is undone through one
// Cleanup: each step is registered right after the thing it undoes exists,
// steps run newest first, a failing step does not stop the others, and an
// early undo (an arm finished) removes its step. Child processes are
// tracked here too: SIGTERM, then SIGKILL if they are still there.
import type { ChildProcess } from 'node:child_process';

interface Step {
  label: string;
  fn: () => unknown;
}

const KILL_GRACE_MS = 3000;

export class Cleanup {
  #steps: Step[] = [];
  #running: Promise<string[]> | undefined;

  /** Registers an undo step; the returned function runs it now (once) and forgets it. */
  add(label: string, fn: () => unknown): () => Promise<void> {
    const step = { label, fn };
    this.#steps.push(step);
    let done: Promise<void> | undefined;
    return () => {
      done ??= (async () => {
        this.#steps = this.#steps.filter((s) => s !== step);
        await fn();
      })();
      return done;
    };
  }

  /** Registers a child process; the returned function stops it. */
  process(label: string, child: ChildProcess): () => Promise<void> {
    return this.add(label, () => stopChild(child));
  }

  /** Runs every step, newest first; returns the errors as text. Idempotent. */
  runAll(): Promise<string[]> {
    this.#running ??= (async () => {
      const errors: string[] = [];
      while (this.#steps.length) {
        const step = this.#steps.pop() as Step;
        try {
          await step.fn();
        } catch (err) {
          errors.push(`${step.label}: ${(err as Error).message}`);
        }
      }
      return errors;
    })();
    return this.#running;
  }
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
