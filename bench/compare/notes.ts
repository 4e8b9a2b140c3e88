// The method notes printed under the tables of bench/results/compare.md:
// how each figure was taken, so a reader can judge it without the code.
import type { Results } from './render.js';

export function methodNotes(res: Results): string[] {
  const s = res.settings as Record<string, number | number[] | string[] | boolean>;
  const notes = [
    `Everything runs on the same ${String(res.machine.cpus)} cores: test world (API server stand-in, kubelet, pods), the system under test, and the load generators. Figures are what this machine gives with all of them competing, not what a laptop with a remote cluster would see; the ratios between systems are the point.`,
    "direct: a veth from the laptop namespace into the nodes' fabric bridge; routes to the pod /24s via their nodes and to the Service CIDR via node 0, which masquerades what it DNATs for the laptop (as kube-proxy does for traffic from outside the cluster). Removed after this arm.",
    'raw port-forward: bench/compare/forward.ts in the laptop namespace, a listener per target bridging each accepted connection to its own v4.channel.k8s.io WebSocket through the API server stand-in (src/kube/port-forward.ts). Targets are pods (port-forward names a pod), not Services. One WebSocket per connection, so each new connection pays TCP + TLS + upgrade to the API server; kubectl port-forward over SPDY would instead open a stream on one connection.',
    "kvpn: `kvpn up --context staging` (a namespace-scoped user) in the laptop namespace, background daemon, resolv.conf DNS mode; by IP = Service ClusterIPs, by name = echo.default.svc.cluster.local resolved by glibc through kvpn's DNS for every connection.",
    `DNS: dnsperf from the laptop to kvpn's DNS server (in the daemon, reached through the TUN), ${s.dnsSeconds} s flat out with 100 queries outstanding, then ${s.dnsSeconds} s at ${s.dnsRate} queries/s with per-query latency. kvpn's DNS server limits each client address to 5,000 queries/s (burst 10,000) and drops the rest, so the flat-out figure is that limit, not the server's capacity (bench/dns.ts measures the server itself, without the limiter).`,
    `sshuttle: Telepresence 1's vpn-tcp set-up — sshd (own config, no PAM, root by key only, per-run host and client keys) in a pod, reached through the same port-forward bridge; \`sshuttle -r root@127.0.0.1:PORT ${res.settings.sshuttleArgs && (res.settings.sshuttleArgs as string[]).length ? `${(res.settings.sshuttleArgs as string[]).join(' ')} ` : ''}10.96.0.0/12 10.244.0.0/16\` (nat method: iptables REDIRECT). The laptop namespace has no default route, and REDIRECT acts after the routing decision, so for this arm both ranges are routed to lo (a laptop's default route plays that part); removed after this arm.`,
    `Bulk: iperf3 ${s.bulkSeconds} s to a one-shot iperf3 server in a pod, 1 and 4 parallel streams, download = iperf3 -R; the figure is the receiver's. Targets the bench-iperf Service IP (direct, kvpn, sshuttle) or the pod (port-forward).`,
    `Connections: ${s.connectCount} sequential connections to the echo Service's TCP echo port; each is (name lookup,) connect, send one byte, receive its echo, close — timed per connection (10 s per attempt; none started after 60 s).`,
    `HTTP: ${s.httpConnections} keep-alive connections to the echo Service (two Node pods), each sending GET / as soon as the previous answer arrived, ${s.httpSeconds} s after a 0.5 s warm-up.`,
    `Held connections: ${(s.holdCounts as number[]).join(' and ')} TCP echo connections opened (${s.holdConcurrency} handshakes in flight), each proven by a one-byte echo (10 s per attempt), held ${s.holdMs} ms, then echoed again (5 s): "alive" counts those that answered the second time. No attempt is started after max(15 s, 2 ms × count) — what did not open by then counts as failed. Daemon RSS is the peak sampled every 200 ms.`,
    "Daemon CPU/RSS: from /proc, summed over the system's laptop-side processes — the kvpn daemon; the port-forward bridge; sshuttle (client, firewall helper, ssh) plus its port-forward bridge. CPU is % of one core over the measurement (200 % = both cores).",
    `RTT run: test/cluster's latency fault (a userspace delay proxy in the laptop namespace, ${res.rtt.rttMs} ms round trip, half each way) between the laptop and the API server; each system is started again after it is set, so all its connections go through it. The delay proxy buffers up to 8 MiB each way, so it does not cap a window below ~800 MB/s at this RTT.`,
    "Descriptor limit: the benchmark raises its own RLIMIT_NOFILE to 65,536 (inherited by the world, the pods and kvpn) so that 10,000 held connections are not limited by the default 20,000 of this machine's shell.",
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
    const d = (r as { diagnostics?: { running?: boolean; exit?: string; stderrTail?: string } }).diagnostics;
    if (d && d.running === false) {
      notes.push(
        `${name} ${d.exit} during its measurements; the end of its stderr: ${JSON.stringify(d.stderrTail?.trim().slice(-400) ?? '')}`,
      );
    }
  }
  return notes;
}
