// `kvpn status [--json] [--context C]`: every session's facts and counters,
// asked from its daemon over the control socket. A session whose daemon is
// gone is shown as crashed, with the command that cleans it up.
// JSON form: {"schema":1,"sessions":[SessionStatus | {id, context, state:"crashed"|"unreachable", error}]}.
import { contextOf, findSessions, type KnownSession, resolveDirs, type SessionStatus } from '../sessions/index.js';
import type { GlobalArgs } from './app.js';
import { EXIT } from './exit-codes.js';
import type { CliIo } from './io.js';

export interface StatusArgs extends GlobalArgs {
  json: boolean;
  context?: string | undefined;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  const parts: string[] = [];
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) parts.push(`${d}d`);
  if (h) parts.push(`${h}h`);
  if (m) parts.push(`${m}m`);
  parts.push(`${s % 60}s`);
  return parts.slice(0, 2).join('');
}

function row(label: string, value: string): string {
  return `  ${label.padEnd(12)}${value}\n`;
}

/** What an optional read RBAC refused costs, and the rule that restores it (docs/rbac.md). */
export function formatDegradation(d: SessionStatus['degradations'][number]): string {
  const quote = (list: string[]) => list.map((x) => `"${x}"`).join(', ');
  return `${d.what}; restore with RBAC ${quote(d.restore.verbs)} on ${quote(d.restore.resources)} in namespace "${d.restore.namespace}" (docs/rbac.md)`;
}

/** "kvpn0: 198.18.0.1/30, fdc7:6b76:706e::1/126" (the prefix lengths of the link). */
function deviceLine(s: SessionStatus): string {
  // A daemon of an older kvpn does not report `tun`.
  if (!s.tun) return s.device;
  const one = (f: { address: string; prefix: string }) => `${f.address}/${f.prefix.split('/')[1]}`;
  const v6 = s.tun.ipv6 ? `, ${one(s.tun.ipv6)}` : ' (no IPv6 on this machine)';
  return `${s.tun.device}: ${one(s.tun.ipv4)}${v6}`;
}

/** The DNS server's IPv6 address, after the one the resolver uses. */
function alsoAt(s: SessionStatus): string {
  const v6 = s.tun?.ipv6?.dns;
  return v6 && v6 !== s.dns.server ? ` (also ${v6})` : '';
}

/** One row per family that has routes ("routes IPv4", "routes IPv6"); "routes none" without any. */
function routeRows(routes: SessionStatus['routes']): string {
  const family = (r: SessionStatus['routes'][number]) => r.family ?? (r.cidr.includes(':') ? 6 : 4);
  let text = '';
  for (const f of [4, 6] as const) {
    const mine = routes.filter((r) => family(r) === f);
    if (mine.length) text += row(`routes IPv${f}`, mine.map((r) => `${r.cidr} (${r.source})`).join(', '));
  }
  return text || row('routes', 'none');
}

export function renderStatus(s: SessionStatus, command: string): string {
  const t = s.traffic;
  const e = t.dialErrors;
  let text = `Session ${s.context} (${s.state}, up ${formatDuration(s.uptimeSeconds)}, pid ${s.pid})\n`;
  text += row('cluster', `${s.cluster} (${s.server})`);
  text += row('namespace', s.namespace);
  text += row(
    'relay pod',
    `${s.relay.pod}${s.relay.carrier === 'mux' ? ' (mux carrier)' : ''}${s.relay.connected ? '' : ' (reconnecting)'}${s.relay.recreated ? `, recreated ${s.relay.recreated}×` : ''}`,
  );
  text += row('device', deviceLine(s));
  text += routeRows(s.routes);
  if (s.excluded.length) text += row('excluded', s.excluded.map((x) => `${x.cidr} (${x.reason})`).join(', '));
  const dns =
    s.dns.mode === 'off'
      ? 'off'
      : `${s.dns.mode}, server ${s.dns.server}${alsoAt(s)}, domain ${s.dns.clusterDomain}${s.dns.searchDomains.length ? `, search ${s.dns.searchDomains.join(' ')}` : ''}`;
  text += row('DNS', dns);
  text += row('TCP', `${t.tcpOpen} open, ${t.tcpTotal} total`);
  text += row('UDP', `${t.udpFlows} open, ${t.udpTotal} total`);
  text += row(
    'traffic',
    `${formatBytes(t.bytesToCluster)} to cluster, ${formatBytes(t.bytesFromCluster)} from cluster`,
  );
  text += row(
    'dial errors',
    `${e.refused} refused, ${e.unreachable} unreachable, ${e.timeout} timed out, ${e.error} other`,
  );
  for (const x of s.exposures ?? [])
    text += row(
      'exposed',
      `${x.address}${x.protocol === 'udp' ? '/udp' : ''} → 127.0.0.1:${x.localPort} (${x.connections.active} open, ${x.connections.accepted} total${x.connections.localErrors ? `, ${x.connections.localErrors} refused here` : ''}; ${command} leave ${x.name})`,
    );
  for (const i of s.intercepts ?? [])
    text += row(
      'intercept',
      `${i.service}:${i.servicePort} ${i.filter ? `[${i.filter}]` : '(whole)'} → 127.0.0.1:${i.localPort} (${i.registered ? `${i.routed.toLaptop} here, ${i.routed.toPods} to the pods${i.routed.failedOpen ? `, ${i.routed.failedOpen} failed open` : ''}` : 'router unreachable: its traffic goes to the pods'}; ${command} leave ${i.name})`,
    );
  for (const m of s.mounts ?? [])
    text += row(
      'mount',
      `${m.workload} (pod ${m.pod}) at ${m.dir}: ${m.paths.length} volume${m.paths.length === 1 ? '' : 's'}${m.problem ? `; ${m.problem}` : ''}${m.updateErrors ? `; ${m.updateErrors} failed updates` : ''} (${command} unmount ${m.name})`,
    );
  // `?? []`: a daemon of an older kvpn does not report it.
  for (const d of s.degradations ?? []) text += row('degraded', formatDegradation(d));
  for (const w of s.warnings.slice(-3)) text += row('warning', w);
  if (s.ui) text += row('inspect', `http://127.0.0.1:${s.ui.port}/ (${command} ui opens it)`);
  text += row('log', `${s.logFile} (${command} logs --context ${s.context})`);
  text += row('stop with', `${command} down --context ${s.context}`);
  return text;
}

function brokenEntry(s: KnownSession): Record<string, unknown> {
  const crashed = s.state !== undefined;
  return {
    id: s.id,
    context: contextOf(s),
    state: crashed ? 'crashed' : 'unreachable',
    error: s.unreachable?.message ?? 'no answer',
    ...(s.state ? { logFile: s.state.logFile, namespace: s.state.namespace, cluster: s.state.cluster } : {}),
  };
}

export async function runStatus(args: StatusArgs, io: CliIo, command = 'kvpn'): Promise<number> {
  const dirs = resolveDirs(args, io.env);
  const sessions = await findSessions(dirs, { context: args.context });
  if (args.json) {
    const list = sessions.map((s) => s.status ?? brokenEntry(s));
    io.out(`${JSON.stringify({ schema: 1, sessions: list }, null, 2)}\n`);
    return sessions.length ? EXIT.OK : EXIT.NO_SESSION;
  }
  if (!sessions.length) {
    io.out(
      `No kvpn session is running${args.context ? ` for context "${args.context}"` : ''}. Start one with \`${command} up\`.\n`,
    );
    return EXIT.NO_SESSION;
  }
  const parts = sessions.map((s) => {
    if (s.status) return renderStatus(s.status, command);
    const b = brokenEntry(s);
    return `Session ${b.context} (${b.state}: ${b.error})\n${row('clean up', `${command} down --context ${b.context}`)}`;
  });
  io.out(parts.join('\n'));
  return EXIT.OK;
}
