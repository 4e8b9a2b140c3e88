// The issue's targets for `npm run bench -- compare`, judged from a run's
// figures: met, missed, or not measured (null). Ratios are kvpn against
// sshuttle and the raw port-forward stream; kubectl port-forward, where it
// was measured, has its ratios in the tables only.
import { formatNumber } from '../report.js';
import { errorOf, figure, type Results, type SystemName, type Target } from './render.js';

/** The issue's targets, each met, missed, or not measured (null). */
export function evaluateTargets(res: Results): Target[] {
  const s = res.systems;
  const bulkKeys = ['download-1', 'upload-1', 'download-4', 'upload-4'];
  const out: Target[] = [];
  const ratios = (other: SystemName, keys: string[]) =>
    keys.map((k) => ({ k, kv: figure(s.kvpn, `bulk.${k}.MBps`), o: figure(s[other], `bulk.${k}.MBps`) }));
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
      const kv = figure(s.kvpn, `bulk.${k}.MBps`);
      const t = figure(res.sshuttleTuned, `bulk.${k}.MBps`);
      return `${k}: ${kv === undefined || !t ? 'not measured' : `${(kv / t).toFixed(2)}×`}`;
    });
    vsSshuttle.detail += `; against sshuttle --no-latency-control (not part of the verdict): ${tuned.join(', ')}`;
  }
  out.push({ id: 'bulk-vs-sshuttle', text: 'kvpn bulk ≥ 10× sshuttle (as Telepresence 1 ran it)', ...vsSshuttle });
  out.push({
    id: 'bulk-vs-port-forward',
    text: 'kvpn bulk ≥ 0.8× the raw port-forward stream (1 stream each way)',
    ...verdict(ratios('port-forward', ['download-1', 'upload-1']), 0.8),
  });
  const kp50 = figure(s.kvpn, 'connect.p50Ms');
  const dp50 = figure(s.direct, 'connect.p50Ms');
  out.push({
    id: 'connect-p50',
    text: 'connection p50 ≤ 1 ms added over direct',
    met: kp50 === undefined || dp50 === undefined ? null : kp50 - dp50 <= 1,
    detail:
      kp50 === undefined || dp50 === undefined
        ? 'not measured'
        : `kvpn ${kp50.toFixed(3)} ms − direct ${dp50.toFixed(3)} ms = ${(kp50 - dp50).toFixed(3)} ms added`,
  });
  const alive = figure(s.kvpn, 'hold.10000.alive');
  const rss = figure(s.kvpn, 'hold.10000.usage.rssMaxMiB');
  const rssMB = rss === undefined ? undefined : (rss * 2 ** 20) / 1e6;
  out.push({
    id: 'hold-10k',
    text: '10,000 concurrent connections held with daemon RSS ≤ 300 MB',
    met: alive === undefined || rssMB === undefined ? null : alive === 10000 && rssMB <= 300,
    detail:
      alive === undefined
        ? `not measured${errorOf(s.kvpn, 'hold.10000.alive') ? `: ${errorOf(s.kvpn, 'hold.10000.alive')}` : ''}`
        : `${formatNumber(alive)} of 10,000 alive after the hold; daemon RSS peak ${rssMB?.toFixed(0)} MB (${rss?.toFixed(0)} MiB)`,
  });
  return out;
}
