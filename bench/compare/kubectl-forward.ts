// The kubectl-port-forward arm of `npm run bench -- compare`: `kubectl
// port-forward` itself, the reference users know. One process per target
// in the laptop namespace:
//
//   kubectl --kubeconfig K --context admin port-forward --address 127.0.0.1 pod/NAME :PORT
//
// each printing "Forwarding from 127.0.0.1:NNNN -> PORT" once it listens.
// kubectl (1.31 and later) carries every forwarded connection as a stream
// pair on one connection to the API server per process: SPDY tunnelled
// through a WebSocket, or plain SPDY where the server cannot. The stand-in
// speaks neither (only v4.channel.k8s.io), so this arm is the real world's.
//
// kubectl exits ("lost connection to pod") on the first error the pod side
// reports for any one connection, e.g. a reset — and iperf3's server resets
// its data connections at the end of every upload. Users wrap it in a loop;
// this arm starts every kubectl afresh, on the same local port, before each
// measurement (Arm.prepare), so no measurement meets one that is about to
// exit over the last. How often one exited by itself is counted.
import type { ChildProcess } from 'node:child_process';
import { type Arm, allForwards, forwardedTargets, podForwards } from './arms.js';
import { type Cleanup, stopChild } from './cleanup.js';
import { type BenchWorld, waitForLine } from './world.js';

const READY_TIMEOUT_MS = 30_000;
const STDERR_TAIL_CHARS = 2000;
const FORWARDING = /^Forwarding from 127\.0\.0\.1:(\d+) -> \d+$/m;

/** One target's kubectl; fresh() replaces it with a new one on the same local port. */
class KubectlForward {
  readonly spec: string;
  readonly #world: BenchWorld;
  #child: ChildProcess | undefined;
  /** Fixed by the first start (kubectl picks it), reused by every later one. */
  port = 0;
  starts = 0;
  /** Exits that were not ours: "lost connection to pod" and the like. */
  exitedByItself = 0;
  stderrTail = '';

  constructor(world: BenchWorld, spec: string) {
    this.#world = world;
    this.spec = spec;
  }

  /** Stops the running kubectl (if any) and resolves once a new one forwards. */
  async fresh(): Promise<void> {
    await this.stop();
    const [pod, remote] = this.spec.split(':');
    const child = this.#world.laptopSpawn('kubectl', [
      '--kubeconfig',
      this.#world.cluster.kubeconfigPath,
      '--context',
      'admin',
      'port-forward',
      '--address',
      '127.0.0.1',
      `pod/${pod}`,
      `${this.port || ''}:${remote}`,
    ]);
    this.#child = child;
    this.starts++;
    child.stderr?.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    const m = await waitForLine(child, FORWARDING, READY_TIMEOUT_MS).catch(async (err) => {
      await this.stop();
      throw err;
    });
    this.port = Number(m[1]);
    // It prints "Handling connection for N" per connection: drained, never kept.
    child.stdout?.resume();
    child.once('exit', () => {
      if (this.#child === child) this.exitedByItself++;
    });
  }

  pid(): number | undefined {
    const c = this.#child;
    return c?.pid && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child) await stopChild(child);
  }
}

export async function startKubectlPortForward(world: BenchWorld, cleanup: Cleanup): Promise<Arm> {
  const f = podForwards(world);
  const forwards = allForwards(f).map((spec) => new KubectlForward(world, spec));
  const stop = cleanup.add('kubectl port-forward', async () => {
    await Promise.all(forwards.map((x) => x.stop()));
  });
  const all = async (): Promise<void> => {
    const started = await Promise.allSettled(forwards.map((x) => x.fresh()));
    const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  };
  await all().catch(async (err) => {
    await stop();
    throw err;
  });
  const byForward = new Map(forwards.map((x) => [x.spec, x.port]));
  return {
    name: 'kubectl-port-forward',
    targets: forwardedTargets(f, (k) => byForward.get(k) as number),
    pids: () => forwards.flatMap((x) => x.pid() ?? []),
    prepare: all,
    diagnostics: () => ({
      starts: Object.fromEntries(forwards.map((x) => [x.spec, x.starts])),
      exitedByItself: Object.fromEntries(forwards.map((x) => [x.spec, x.exitedByItself])),
      stderrTail: forwards.map((x) => x.stderrTail.trim()).join('\n'),
    }),
    stop,
  };
}
