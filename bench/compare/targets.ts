// The issue's targets for `npm run bench -- compare`, judged from a run's
// figures: met, missed, or not measured (null). Ratios are kvpn against
// sshuttle and the raw port-forward stream; kubectl port-forward, where it
// was measured, has its ratios in the tables only. The targets are kvpn's
// (the HTTP/2 carrier); a run that measured kvpn-mux has the same targets
// for the mux carrier ("mux: …"), and the mux carrier's own: HTTP keep-alive
// against the raw port-forward, and laptop CPU per GiB against HTTP/2.
import { formatNumber } from '../report.js';
import { errorOf, figure, measured, type Results, type SystemName, type Target } from './render.js';

type KvpnSystem = 'kvpn' | 'kvpn-mux';

/** How each kvpn arm is named in the targets' ids, texts and figures. */
const NAMING: Record<KvpnSystem, { id: string; text: string; detail: string }> = {
  kvpn: { id: '', text: '', detail: 'kvpn' },
  'kvpn-mux': { id: 'mux-', text: 'mux: ', detail: 'kvpn mux' },
};

/** The issue's targets, each met, missed, or not measured (null). */
export function evaluateTargets(res: Results): Target[] {
  return [
    ...kvpnTargets(res, 'kvpn'),
    ...(measured(res, 'kvpn-mux') ? [...kvpnTargets(res, 'kvpn-mux'), httpVsPortForward(res), cpuPerGiB(res)] : []),
  ];
}

/** The targets of one kvpn arm (h2 or mux carrier). */
function kvpnTargets(res: Results, system: KvpnSystem): Target[] {
  const s = res.systems;
  const kvpn = s[system];
  const name = NAMING[system];
  const bulkKeys = ['download-1', 'upload-1', 'download-4', 'upload-4'];
  const out: Target[] = [];
  const ratios = (other: SystemName, keys: string[]) =>
    keys.map((k) => ({ k, kv: figure(kvpn, `bulk.${k}.MBps`), o: figure(s[other], `bulk.${k}.MBps`) }));
  const verdict = (rs: { k: string; kv?: number; o?: number }[], min: number) => {
    const known = rs.filter((r) => r.kv !== undefined && r.o !== undefined && r.o > 0);
    const detail = rs
      .map((r) => `${r.k}: ${r.kv === undefined || r.o === undefined ? 'not measured' : `${(r.kv / r.o).toFixed(2)}×`}`)
      .join(', ');
    if (known.length < rs.length) return { met: null, detail };
    return { met: known.every((r) => (r.kv as number) / (r.o as number) >= min), detail };
  };
  const vsSshuttle = verdict(ratios('sshuttle', bulkKeys), 10);
  if (res.sshuttleTuned) {
    const tuned = ['download-1', 'upload-1'].map((k) => {
      const kv = figure(kvpn, `bulk.${k}.MBps`);
      const t = figure(res.sshuttleTuned, `bulk.${k}.MBps`);
      return `${k}: ${kv === undefined || !t ? 'not measured' : `${(kv / t).toFixed(2)}×`}`;
    });
    vsSshuttle.detail += `; against sshuttle --no-latency-control (not part of the verdict): ${tuned.join(', ')}`;
  }
  out.push({
    id: `${name.id}bulk-vs-sshuttle`,
    text: `${name.text}kvpn bulk ≥ 10× sshuttle (as Telepresence 1 ran it)`,
    ...vsSshuttle,
  });
  out.push({
    id: `${name.id}bulk-vs-port-forward`,
    text: `${name.text}kvpn bulk ≥ 0.8× the raw port-forward stream (1 stream each way)`,
    ...verdict(ratios('port-forward', ['download-1', 'upload-1']), 0.8),
  });
  const kp50 = figure(kvpn, 'connect.p50Ms');
  const dp50 = figure(s.direct, 'connect.p50Ms');
  out.push({
    id: `${name.id}connect-p50`,
    text: `${name.text}connection p50 ≤ 1 ms added over direct`,
    met: kp50 === undefined || dp50 === undefined ? null : kp50 - dp50 <= 1,
    detail:
      kp50 === undefined || dp50 === undefined
        ? 'not measured'
        : `${name.detail} ${kp50.toFixed(3)} ms − direct ${dp50.toFixed(3)} ms = ${(kp50 - dp50).toFixed(3)} ms added`,
  });
  const alive = figure(kvpn, 'hold.10000.alive');
  const rss = figure(kvpn, 'hold.10000.usage.rssMaxMiB');
  const rssMB = rss === undefined ? undefined : (rss * 2 ** 20) / 1e6;
  out.push({
    id: `${name.id}hold-10k`,
    text: `${name.text}10,000 concurrent connections held with daemon RSS ≤ 300 MB`,
    met: alive === undefined || rssMB === undefined ? null : alive === 10000 && rssMB <= 300,
    detail:
      alive === undefined
        ? `not measured${errorOf(kvpn, 'hold.10000.alive') ? `: ${errorOf(kvpn, 'hold.10000.alive')}` : ''}`
        : `${formatNumber(alive)} of 10,000 alive after the hold; daemon RSS peak ${rssMB?.toFixed(0)} MB (${rss?.toFixed(0)} MiB)`,
  });
  return out;
}

/** The mux carrier's HTTP keep-alive requests/s against the raw port-forward's. */
function httpVsPortForward(res: Results): Target {
  const mux = figure(res.systems['kvpn-mux'], 'http.rps');
  const pf = figure(res.systems['port-forward'], 'http.rps');
  const known = mux !== undefined && pf !== undefined && pf > 0;
  return {
    id: 'mux-http-vs-port-forward',
    text: "mux: HTTP keep-alive req/s ≥ 0.8× the raw port-forward's",
    met: known ? mux / pf >= 0.8 : null,
    detail: known
      ? `kvpn mux ${formatNumber(Math.round(mux))} req/s ÷ raw port-forward ${formatNumber(Math.round(pf))} req/s = ${(mux / pf).toFixed(2)}×`
      : 'not measured',
  };
}

/**
 * The daemon's CPU seconds per GiB moved in a bulk run: CPU % of a core over
 * the run ÷ 100, per second of it, over the GiB it moved per second.
 */
function cpuSecondsPerGiB(r: Results['systems'][SystemName], key: string): number | undefined {
  const cpu = figure(r, `bulk.${key}.usage.cpuPercent`);
  const mbps = figure(r, `bulk.${key}.MBps`);
  return cpu === undefined || !mbps ? undefined : cpu / 100 / ((mbps * 1e6) / 2 ** 30);
}

/** The mux carrier's laptop CPU per GiB against HTTP/2's, 1 stream each way. */
function cpuPerGiB(res: Results): Target {
  const rs = ['download-1', 'upload-1'].map((k) => ({
    k,
    mux: cpuSecondsPerGiB(res.systems['kvpn-mux'], k),
    h2: cpuSecondsPerGiB(res.systems.kvpn, k),
  }));
  const known = rs.every((r) => r.mux !== undefined && r.h2 !== undefined && r.h2 > 0);
  const detail = rs
    .map(({ k, mux, h2 }) =>
      mux === undefined || h2 === undefined || h2 <= 0
        ? `${k}: not measured`
        : `${k}: mux ${mux.toFixed(2)} ÷ h2 ${h2.toFixed(2)} daemon CPU s/GiB = ${(mux / h2).toFixed(2)}×`,
    )
    .join(', ');
  return {
    id: 'mux-cpu-per-gib',
    text: "mux: laptop CPU per GiB ≤ 0.8× HTTP/2's",
    met: known ? rs.every((r) => (r.mux as number) / (r.h2 as number) <= 0.8) : null,
    detail,
  };
}
