// What `up` prints: one line per step as it completes, then the summary
// a new user needs — what is reachable now, how names resolve, how to stop.
import { type ProgressEvent, type SessionSummary, STEP_TITLES } from '../sessions/index.js';
import type { CliIo } from './io.js';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function progressPrinter(io: CliIo): (event: ProgressEvent) => void {
  return (event) => {
    io.err(`  ✓ ${STEP_TITLES[event.step]}${event.detail ? `: ${event.detail}` : ''} (${seconds(event.elapsedMs)})\n`);
  };
}

function row(label: string, value: string): string {
  return `  ${label.padEnd(12)}${value}\n`;
}

export function renderSummary(s: SessionSummary, command: string, foreground: boolean): string {
  let text = `\nkvpn is up in ${seconds(s.startupMs)}: this machine is now inside cluster "${s.cluster}" (context ${s.context}).\n`;
  text += row('namespace', s.namespace);
  text += row('routed', s.routes.map((r) => `${r.cidr} (${r.source})`).join(', ') || 'nothing');
  if (s.excluded.length) text += row('not routed', s.excluded.map((x) => `${x.cidr} (${x.reason})`).join(', '));
  if (s.dns.mode === 'off') text += row('DNS', 'off (use IP addresses, or run with --dns auto)');
  else {
    text += row(
      'DNS',
      `${s.dns.mode} via ${s.dns.server}: try \`curl http://SERVICE.${s.namespace}.svc.${s.dns.clusterDomain ?? 'cluster.local'}/\``,
    );
  }
  text += row('relay pod', `${s.relayPod} in ${s.namespace}`);
  if (s.ui) text += row('inspect', `${s.ui.url}  (or \`${command} ui\`)`);
  text += row('status', `${command} status`);
  text += row('log', s.logFile);
  text += row('stop with', foreground ? 'Ctrl-C' : `${command} down${s.context ? ` --context ${s.context}` : ''}`);
  return text;
}
