// "First connection verified": `up` returns only once traffic flows. A TCP
// connection to a Service of the session's namespace goes the way an app's
// would — kernel, TUN, stack, tunnel, relay, Service — and an answer of
// either kind (connected, or refused by the far side) proves the path. A
// DNS query to the in-TUN server proves names resolve. Where the namespace
// has no Service, or its Services may not be listed (the tunnel-only Role),
// the cluster's own kubernetes and kube-dns Services are tried instead.
// In-process tests whose TUN lives in another network namespace verify
// through the tunnel dialer instead of the kernel.
import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import { KvpnError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import type { Dialer } from '../tun/stack/index.js';
import { CLUSTER_DNS_SERVICE, KUBERNETES_SERVICE, type WellKnownServices } from './cluster-services.js';

export const VERIFY_ATTEMPT_TIMEOUT_MS = 4000;
export const VERIFY_MAX_TARGETS = 3;

export interface ServiceTarget {
  name: string;
  address: string;
  port: number;
}

interface ServiceObject {
  metadata: { name: string };
  spec?: { clusterIP?: string; type?: string; ports?: { port: number; protocol?: string }[] };
}

export class VerifyError extends KvpnError {
  constructor(message: string) {
    super('KVPN_ERR_VERIFY_FAILED', 'cluster', message, {
      remedy: 'Check the relay pod (kubectl get pod -l app.kubernetes.io/name=kvpn-relay) and `kvpn logs`.',
    });
  }
}

/** TCP Services with a ClusterIP in the namespace, at most a few; undefined if RBAC refuses the list. */
export async function serviceTargets(client: KubeClient): Promise<ServiceTarget[] | undefined> {
  let list: { items?: ServiceObject[] };
  try {
    list = await client.request<{ items?: ServiceObject[] }>('GET', `/api/v1/namespaces/${client.namespace}/services`);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 403) return undefined;
    list = { items: [] };
  }
  const out: ServiceTarget[] = [];
  for (const s of list.items ?? []) {
    const ip = s.spec?.clusterIP;
    const port = s.spec?.ports?.find((p) => (p.protocol ?? 'TCP') === 'TCP')?.port;
    if (!ip || ip === 'None' || !port || s.spec?.type === 'ExternalName') continue;
    out.push({ name: `${s.metadata.name}.${client.namespace}`, address: ip, port });
  }
  out.sort((a, b) =>
    a.name.startsWith('kubernetes.') ? -1 : b.name.startsWith('kubernetes.') ? 1 : a.name.localeCompare(b.name),
  );
  return out.slice(0, VERIFY_MAX_TARGETS);
}

/** The kubernetes Service (HTTPS) and the cluster DNS (DNS over TCP), as the tunnel resolved them. */
export function wellKnownTargets(found: WellKnownServices): ServiceTarget[] {
  return [
    ...found.kubernetes.map((address) => ({ name: KUBERNETES_SERVICE.name, address, port: KUBERNETES_SERVICE.port })),
    ...found.clusterDns.map((address) => ({ name: CLUSTER_DNS_SERVICE.name, address, port: CLUSTER_DNS_SERVICE.port })),
  ].slice(0, VERIFY_MAX_TARGETS);
}

/** Resolves 'connected' or 'refused' (both prove the path), rejects on timeout or other errors. */
function kernelConnect(target: ServiceTarget, signal?: AbortSignal): Promise<'connected' | 'refused'> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.address, port: target.port, timeout: VERIFY_ATTEMPT_TIMEOUT_MS });
    const done = (fn: () => void) => {
      socket.destroy();
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => done(() => reject(new Error('aborted')));
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done(() => resolve('connected')));
    socket.once('timeout', () => done(() => reject(new Error('timed out'))));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(() => (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' ? resolve('refused') : reject(err))),
    );
  });
}

async function dialerConnect(
  dialer: Dialer,
  target: ServiceTarget,
  signal?: AbortSignal,
): Promise<'connected' | 'refused'> {
  const abort = AbortSignal.any([AbortSignal.timeout(VERIFY_ATTEMPT_TIMEOUT_MS), ...(signal ? [signal] : [])]);
  try {
    // An IPv6-only cluster's Services have IPv6 ClusterIPs: the source is of the target's family.
    const v6 = net.isIPv6(target.address);
    const stream = await dialer.dialTcp({
      family: v6 ? 6 : 4,
      destination: { address: target.address, port: target.port },
      source: { address: v6 ? '::' : '0.0.0.0', port: 0 },
      signal: abort,
    });
    stream.destroy();
    return 'connected';
  } catch (err) {
    if ((err as { reason?: string }).reason === 'refused') return 'refused';
    throw err;
  }
}

async function checkDns(address: string, clusterDomain: string): Promise<void> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([address]);
  try {
    // A records: in an IPv6-only cluster the answer is "no data", which is an answer all the same.
    await resolver.resolve4(`kubernetes.default.svc.${clusterDomain}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // An authoritative "no such name" is an answer: the server is reachable.
    if (code !== 'ENOTFOUND' && code !== 'ENODATA')
      throw new VerifyError(`the DNS server at ${address} did not answer (${code})`);
  }
}

export interface VerifyOptions {
  client: KubeClient;
  dialer: Dialer;
  /** The in-TUN DNS server, when DNS is on. */
  dnsAddress?: string | undefined;
  /** The zone that server answers (default cluster.local). */
  clusterDomain?: string | undefined;
  /** Connect through the kernel (false: the TUN is in another namespace). */
  viaKernel: boolean;
  /** The cluster's own Services, tried when the namespace offers none. */
  wellKnown?: (() => Promise<WellKnownServices>) | undefined;
  signal?: AbortSignal | undefined;
}

/** Resolves with one line saying what was verified; rejects with VerifyError. */
export async function verifyTraffic(options: VerifyOptions): Promise<string> {
  const started = Date.now();
  const listed = await serviceTargets(options.client);
  let targets = listed ?? [];
  if (!targets.length && options.wellKnown) targets = wellKnownTargets(await options.wellKnown());
  const unlisted = listed ? '' : " (the namespace's Services may not be listed)";
  const parts: string[] = [];
  if (targets.length) {
    // All at once: one unreachable Service must not cost a timeout. A connection wins at once;
    // a refusal (also proof that the path works) only if nothing connects.
    const ok = await new Promise<string>((resolve, reject) => {
      let pending = targets.length;
      let refused: string | undefined;
      const errors: string[] = [];
      const settle = () => {
        if (--pending > 0) return;
        if (refused) resolve(refused);
        else reject(new VerifyError(`no connection through the tunnel succeeded (${errors.join('; ')})`));
      };
      for (const target of targets) {
        const attempt = options.viaKernel
          ? kernelConnect(target, options.signal)
          : dialerConnect(options.dialer, target, options.signal);
        attempt.then(
          (how) => {
            const line = `TCP to ${target.name} (${target.address}:${target.port}) ${how}${unlisted}`;
            if (how === 'connected') resolve(line);
            else refused ??= line;
            settle();
          },
          (err: Error) => {
            errors.push(`${target.name}: ${err.message}`);
            settle();
          },
        );
      }
    });
    parts.push(ok);
  } else {
    parts.push(`tunnel up (no Service to try${unlisted})`);
  }
  if (options.dnsAddress && options.viaKernel) {
    await checkDns(options.dnsAddress, options.clusterDomain ?? 'cluster.local');
    parts.push(`DNS answers at ${options.dnsAddress}`);
  }
  return `${parts.join(', ')} in ${Date.now() - started} ms`;
}
