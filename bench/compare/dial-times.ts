// The connect path taken apart, for the kvpn arms of `npm run bench -- compare`:
// right after the sequential connect test, the daemon's own record of those
// connections (the inspection page's flow log) gives each one's dial time —
// from the SYN reaching the daemon to the relay's answer — and, from the
// relay's `kvpn-dial-us`, the relay's own dial; the difference is the
// carrier's round trip. What the client measured beyond the daemon's dial is
// the laptop's part (TUN, the stack's SYN handling, the kernel) plus the
// first byte's round trip through the tunnel.
import { join } from 'node:path';
import { percentile } from '../report.js';
import type { Failed } from './tools.js';
import type { BenchWorld, Endpoint } from './world.js';

export interface DialTimes {
  /** Ended flows to the destination the page listed (the connect test's, newest first). */
  flows: number;
  p50Ms: number;
  p99Ms: number;
  /** The relay's own dial (connect to the target inside the cluster), where the relay reported it. */
  relay?: { flows: number; p50Ms: number; p99Ms: number };
  /** Per connection, the daemon's dial less the relay's: the carrier's open round trip. */
  carrier?: { p50Ms: number; p99Ms: number };
}

interface FlowRow {
  destination: string;
  state: string;
  dialMs: number | null;
  relayDialMs?: number | null;
}

/**
 * The last `count` flows to `target` from the session's inspection page;
 * `cli` runs kvpn against the session (`kvpn ui --print` gives the secret URL).
 */
export async function daemonDialTimes(
  world: BenchWorld,
  cli: (args: string[]) => Promise<string>,
  dir: string,
  target: Endpoint,
  count: number,
): Promise<DialTimes | Failed> {
  try {
    const url = new URL((await cli(['ui', '--print'])).trim());
    const jar = join(dir, `ui-cookies-${url.port}`);
    const curl = async (args: string[]) => {
      const r = await world.cluster.exec('curl', ['-sf', '-c', jar, '-b', jar, ...args]);
      if (r.code !== 0) throw new Error(`curl ${args.join(' ')}: exit ${r.code} ${r.stderr.trim()}`);
      return r.stdout;
    };
    await curl(['-o', '/dev/null', url.href]);
    const destination = `${target.host}:${target.port}`;
    const query = new URLSearchParams({ text: destination, state: 'closed', limit: String(count) });
    const page = JSON.parse(await curl([`${url.origin}/api/connections?${query}`])) as { flows: FlowRow[] };
    const flows = page.flows.filter((f) => f.destination === destination && typeof f.dialMs === 'number');
    const dials = flows.map((f) => f.dialMs as number);
    if (dials.length === 0) return { error: `the page listed no ended flow to ${destination}` };
    const out: DialTimes = { flows: dials.length, p50Ms: percentile(dials, 50), p99Ms: percentile(dials, 99) };
    const withRelay = flows.filter((f) => typeof f.relayDialMs === 'number');
    if (withRelay.length > 0) {
      const relay = withRelay.map((f) => f.relayDialMs as number);
      const carrier = withRelay.map((f) => (f.dialMs as number) - (f.relayDialMs as number));
      out.relay = { flows: relay.length, p50Ms: percentile(relay, 50), p99Ms: percentile(relay, 99) };
      out.carrier = { p50Ms: percentile(carrier, 50), p99Ms: percentile(carrier, 99) };
    }
    return out;
  } catch (err) {
    return { error: (err as Error).message };
  }
}
