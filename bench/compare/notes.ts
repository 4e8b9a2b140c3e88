// The method notes printed under the tables of bench/results/compare.md:
// how each figure was taken, so a reader can judge it without the code.

import { formatNumber } from '../report.js';
import { measured as measuredSystem, type Results } from './render.js';
import type { Bulk } from './tools.js';

/**
 * Where kvpn's DNS answers came from, by its own counters: `staging` holds
 * docs/rbac.md's minimal Role, without the Service watch that answers
 * locally, so Service names go to the cluster DNS through the tunnel.
 */
function dnsAnswerNote(res: Results): string {
  const parts: string[] = [];
  for (const name of ['kvpn', 'kvpn-mux'] as const) {
    const stats = (res.systems[name] as { counters?: { dnsStats?: Record<string, number> } } | undefined)?.counters
      ?.dnsStats;
    if (!stats || typeof stats.queries !== 'number') continue;
    const local = (stats.answeredLocally ?? 0) + (stats.nxdomainLocally ?? 0);
    const cluster = stats.forwardedCluster ?? 0;
    parts.push(
      `${name}: ${formatNumber(local)} of ${formatNumber(stats.queries)} answered from the daemon's watches, ${formatNumber(cluster)} forwarded to the cluster DNS through the tunnel`,
    );
  }
  if (parts.length === 0) return '';
  return `Where the answers came from (the daemon's counters, whole run): ${parts.join('; ')}. The staging context holds docs/rbac.md's minimal Role, which has no Service watch: each Service name costs a round trip through the tunnel (with the optional Role they are answered locally, as bench/dns.ts measures).`;
}

/** Whether the kvpn measured still had its DNS rate limiter (removed in 1535741): its counters say. */
function rateLimited(res: Results): boolean {
  const stats = (res.systems.kvpn as { counters?: { dnsStats?: Record<string, unknown> } } | undefined)?.counters
    ?.dnsStats;
  return stats !== undefined && 'droppedRateLimited' in stats;
}

/** The carrier a kvpn arm recorded (`status --json` after up), if this run's code recorded one. */
function carrierOf(res: Results, name: 'kvpn' | 'kvpn-mux'): string | undefined {
  const carrier = (res.systems[name] as { up?: { carrier?: unknown } } | undefined)?.up?.carrier;
  return typeof carrier === 'string' ? carrier : undefined;
}

/** The carrier a kvpn arm's counters show after its measurements (`kvpn status --json`). */
function carrierAfter(res: Results, name: 'kvpn' | 'kvpn-mux'): string {
  const carrier = (res.systems[name] as { counters?: { carrier?: unknown } } | undefined)?.counters?.carrier;
  return typeof carrier === 'string' ? carrier : 'not recorded';
}

/** How often kubectl port-forward exited by itself, per target, from the arm's diagnostics. */
function kubectlExits(res: Results): string {
  const d = (
    res.systems['kubectl-port-forward'] as { diagnostics?: { exitedByItself?: Record<string, number> } } | undefined
  )?.diagnostics?.exitedByItself;
  if (!d) return 'not recorded';
  const total = Object.values(d).reduce((a, b) => a + b, 0);
  return `${total} (${Object.entries(d)
    .map(([spec, n]) => `${spec}: ${n}`)
    .join(', ')})`;
}

/** The descriptor limit the run had: older results only say what was intended. */
function descriptorNote(res: Results): string {
  const limit = res.settings.descriptorLimit as number | undefined;
  if (limit === undefined)
    return "Descriptor limit: the benchmark raises its own RLIMIT_NOFILE to 65,536 (inherited by the world, the pods and kvpn) so that 10,000 held connections are not limited by the default 20,000 of this machine's shell.";
  const raised = limit >= 65536;
  return `Descriptor limit: ${limit.toLocaleString('en-US')} for the benchmark and everything it starts (the world${res.world === 'real' ? ', containerd' : ''}, the pods, kvpn): it asks for 65,536 ${raised ? 'and got it' : 'and this machine refused (raising the hard limit needs CAP_SYS_RESOURCE)'}.${res.world === 'real' && !raised ? " containerd holds descriptors per forwarded connection, so its limit here is far below a real node's (containerd 1.x's systemd unit: LimitNOFILE=infinity; 2.x: systemd's default hard limit, 524,288)." : ''}`;
}

export function methodNotes(res: Results): string[] {
  const s = res.settings as Record<string, number | number[] | string[] | boolean>;
  const real = res.world === 'real';
  const sshuttleArgs = (s.sshuttleArgs as string[] | undefined) ?? [];
  const mux = measuredSystem(res, 'kvpn-mux');
  // Runs from before the arms named their carrier: `kvpn up` without --carrier (the default, h2).
  const h2Flag = carrierOf(res, 'kvpn') ? ` --carrier ${carrierOf(res, 'kvpn')}` : '';
  const notes = [
    real
      ? `Everything runs on the same ${String(res.machine.cpus)} cores: the real world (etcd, kube-apiserver, controller-manager, scheduler, containerd, kubelet, kube-proxy, the pods), the system under test, and the load generators. Figures are what this machine gives with all of them competing, not what a laptop with a remote cluster would see; the ratios between systems are the point.`
      : `Everything runs on the same ${String(res.machine.cpus)} cores: test world (API server stand-in, kubelet, pods), the system under test, and the load generators. Figures are what this machine gives with all of them competing, not what a laptop with a remote cluster would see; the ratios between systems are the point.`,
    real
      ? "direct: the laptop's eth0 already shares a link with the node (172.18.0.1 ── 172.18.0.2); routes to the Service CIDR and the node's pod /24 via the node, which DNATs Service traffic (kube-proxy, nftables) and masquerades it (kube-proxy's masqueradeAll, and the benchmark's own nft rule as on the stand-in). Removed after this arm."
      : "direct: a veth from the laptop namespace into the nodes' fabric bridge; routes to the pod /24s via their nodes and to the Service CIDR via node 0, which masquerades what it DNATs for the laptop (as kube-proxy does for traffic from outside the cluster). Removed after this arm.",
    ...(measuredSystem(res, 'kubectl-port-forward')
      ? [
          `kubectl port-forward: kubectl ${res.versions.kubectl ?? ''} itself, one \`kubectl port-forward --address 127.0.0.1 pod/NAME :PORT\` process per target in the laptop namespace (admin context). Each process holds one connection to the API server (SPDY tunnelled through a WebSocket) and opens a stream pair on it per forwarded connection, so a new connection costs no TCP or TLS handshake to the API server. kubectl exits ("lost connection to pod") on the first error the pod side reports for any one connection — iperf3's server resets its data connections at the end of an upload — so before each measurement the arm starts every kubectl afresh on the same local port (users wrap it in a loop); exits of its own accord during the run: ${kubectlExits(res)}.`,
        ]
      : []),
    real
      ? "raw port-forward: bench/compare/forward.ts in the laptop namespace, a listener per target bridging each accepted connection to its own v4.channel.k8s.io WebSocket (src/kube/port-forward.ts, what kvpn's tunnel rides on). The real path: kube-apiserver, which proxies the stream to the kubelet, which proxies it to containerd's CRI streaming server, which dials the pod's port inside the pod's network namespace. Targets are pods (port-forward names a pod), not Services. One WebSocket per connection, so each new connection pays TCP + TLS + upgrade to the API server and a new stream through the kubelet."
      : 'raw port-forward: bench/compare/forward.ts in the laptop namespace, a listener per target bridging each accepted connection to its own v4.channel.k8s.io WebSocket through the API server stand-in (src/kube/port-forward.ts). Targets are pods (port-forward names a pod), not Services. One WebSocket per connection, so each new connection pays TCP + TLS + upgrade to the API server; kubectl port-forward over SPDY would instead open a stream on one connection.',
    `kvpn: \`kvpn up --context staging${h2Flag}\` (a namespace-scoped user) in the laptop namespace, background daemon, resolv.conf DNS mode; by IP = Service ClusterIPs, by name = echo.default.svc.cluster.local resolved by glibc through kvpn's DNS for every connection. The measured Services' names are resolved once after \`up\`${real ? ": staging may not discover a real cluster's Service range, so kvpn routes a /16 around the kubernetes and DNS Services and adds a Service outside it once its name is resolved (the degraded note below)" : ''}.`,
    ...(mux
      ? [
          `kvpn-mux: the same with \`kvpn up --context staging --carrier mux\`: the tunnel to the relay over the mux carrier (tunnel protocol 2) instead of HTTP/2 (the kvpn arm, tunnel protocol 1). Each arm names its carrier with --carrier and runs without KVPN_CARRIER in its environment; after \`up\` and a first request it checks that \`kvpn status --json\` shows that carrier in relay.carrier (a relay without the mux falls back to HTTP/2 silently) and fails otherwise. relay.carrier after the measurements: ${carrierAfter(res, 'kvpn')} (kvpn), ${carrierAfter(res, 'kvpn-mux')} (kvpn-mux). "mux ÷ h2" is kvpn-mux's figure over kvpn's on every row: above 1× is better for throughput and requests/s, below 1× for CPU, RSS and latency. Laptop CPU per GiB (the mux target) = the daemon's CPU % ÷ 100 ÷ (MB/s × 10^6 ÷ 2^30), from the 1-stream bulk runs.`,
        ]
      : []),
    `DNS: dnsperf from the laptop to kvpn's DNS server (in the daemon, reached through the TUN), ${s.dnsSeconds} s flat out with 100 queries outstanding, then ${s.dnsSeconds} s at ${s.dnsRate} queries/s with per-query latency. ${
      rateLimited(res)
        ? "kvpn's DNS server limited each client address to 5,000 queries/s (burst 10,000) and dropped the rest, so the flat-out figure is that limit, not the server's capacity (bench/dns.ts measures the server itself, without the limiter)."
        : 'Nothing is rate-limited; queries forwarded to the cluster DNS are bounded in flight per destination, and those over the bound are dropped and counted (droppedOverloaded).'
    } ${dnsAnswerNote(res)}`,
    `sshuttle: Telepresence 1's vpn-tcp set-up — sshd (own config, no PAM, root by key only, per-run host and client keys) in a pod${real ? " (the real world has no debian image: a node:22-alpine pod runs the host's own OpenSSH chrooted into the node's root filesystem, a hostPath volume)" : ''}, reached through the same port-forward bridge; \`sshuttle -r root@127.0.0.1:PORT ${sshuttleArgs.length ? `${sshuttleArgs.join(' ')} ` : ''}10.96.0.0/12 10.244.0.0/16\` (nat method: iptables REDIRECT). The laptop namespace has no default route, and REDIRECT acts after the routing decision, so for this arm both ranges are routed to lo (a laptop's default route plays that part); removed after this arm.`,
    `Bulk: iperf3 ${s.bulkSeconds} s to a one-shot iperf3 server in a pod, 1 and 4 parallel streams, download = iperf3 -R; the figure is the receiver's. Targets the bench-iperf Service IP (direct, kvpn${mux ? ', kvpn-mux' : ''}, sshuttle) or the pod (the port-forwards).`,
    `Connections: ${s.connectCount} sequential connections to the echo Service's TCP echo port; each is (name lookup,) connect, send one byte, receive its echo, close — timed per connection (10 s per attempt; none started after 60 s), and in two halves: the handshake (until the client's connect event) and the first byte (written to echoed). Round trip on an open connection: one connection, then ${s.pingpongCount} one-byte echoes one after another (the pod for the port-forwards).`,
    `HTTP: ${s.httpConnections} keep-alive connections to the echo Service (two Node pods), each sending GET / as soon as the previous answer arrived, ${s.httpSeconds} s after a 0.5 s warm-up.`,
    `Held connections: ${(s.holdCounts as number[]).join(' and ')} TCP echo connections opened (${s.holdConcurrency} handshakes in flight), each proven by a one-byte echo (10 s per attempt), held ${s.holdMs} ms, then echoed again (5 s): "alive" counts those that answered the second time. No attempt is started after max(15 s, 2 ms × count) — what did not open by then counts as failed. Daemon RSS is the peak sampled every 200 ms.`,
    `Daemon CPU/RSS: from /proc, summed over the system's laptop-side processes — the kvpn daemon; ${measuredSystem(res, 'kubectl-port-forward') ? 'the kubectl processes; ' : ''}the port-forward bridge; sshuttle (client, firewall helper, ssh) plus its port-forward bridge. CPU is % of one core over the measurement (200 % = both cores).${real ? ' "control plane + kubelet + containerd" is the real world\'s own processes (etcd, kube-apiserver, controller-manager, scheduler, containerd, kubelet, kube-proxy), summed the same way.' : ''}`,
    res.rtt.skipped
      ? `RTT run: not made — ${res.rtt.skipped}.`
      : `RTT run: test/cluster's latency fault (a userspace delay proxy in the laptop namespace, ${res.rtt.rttMs} ms round trip, half each way) between the laptop and the API server; each system is started again after it is set, so all its connections go through it. The delay proxy buffers up to 8 MiB each way, so it does not cap a window below ~800 MB/s at this RTT.`,
    descriptorNote(res),
  ];
  if (s.quick)
    notes.unshift(
      'QUICK RUN (--quick): short durations and small counts, for development only; not the published figures.',
    );
  const failures: string[] = [];
  const walk = (prefix: string, v: unknown): void => {
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (typeof o.error === 'string') failures.push(`${prefix}: ${o.error}`);
    else for (const [k, x] of Object.entries(o)) walk(`${prefix}.${k}`, x);
  };
  for (const [name, r] of Object.entries(res.systems)) walk(name, r);
  for (const [name, r] of Object.entries(res.rtt.systems)) walk(`${name} (RTT)`, r);
  for (const f of failures) notes.push(`Failed: ${f}`);
  for (const [name, r] of Object.entries(res.systems)) {
    for (const [key, b] of Object.entries((r as { bulk?: Record<string, Bulk | object> } | undefined)?.bulk ?? {})) {
      const c = (b as Bulk).clientSide;
      if (c)
        notes.push(
          `${name} ${key}: the figure is the iperf3 client's own per-second reports over ${c.seconds.toFixed(1)} s (${key.startsWith('upload') ? "the sender's" : "the receiver's"} side); the end-of-test exchange was lost (${c.reason}).`,
        );
    }
  }
  for (const name of ['kvpn', 'kvpn-mux'] as const) {
    const degraded = (res.systems[name] as { counters?: { degradations?: { what: string }[] } } | undefined)?.counters
      ?.degradations;
    for (const d of degraded ?? []) notes.push(`${name} reported itself degraded (kvpn status): ${d.what}.`);
  }
  for (const [name, r] of Object.entries(res.systems)) {
    const d = (r as { diagnostics?: { running?: boolean; exit?: string; stderrTail?: string } }).diagnostics;
    if (d && d.running === false) {
      notes.push(
        `${name} ${d.exit} during its measurements; the end of its stderr: ${JSON.stringify(d.stderrTail?.trim().slice(-400) ?? '')}`,
      );
    }
  }
  return notes;
}
