// The chart of `npm run bench -- compare` as a standalone SVG (no
// dependencies): two grouped bar charts on log scales — bulk throughput
// (MB/s) per case, and connect + first byte latency (p50, p99, ms) — one
// colour per system (those the run measured), the value printed on each bar.
import { figure, measured, OPTIONAL_SYSTEMS, type Results, type SystemName } from './render.js';

interface Series {
  label: string;
  colour: string;
  system: SystemName;
  /** Figure path prefix override (kvpn by name). */
  connectPath?: string;
}

const SERIES: Series[] = [
  { label: 'direct (no tunnel)', colour: '#7f7f7f', system: 'direct' },
  { label: 'kubectl port-forward', colour: '#9467bd', system: 'kubectl-port-forward' },
  { label: 'raw port-forward', colour: '#1f77b4', system: 'port-forward' },
  { label: 'kvpn (by IP)', colour: '#2ca02c', system: 'kvpn' },
  { label: 'kvpn (by name)', colour: '#98df8a', system: 'kvpn', connectPath: 'connectByName' },
  { label: 'kvpn (mux)', colour: '#17becf', system: 'kvpn-mux' },
  { label: 'sshuttle', colour: '#d62728', system: 'sshuttle' },
];
/** Bulk only, where measured (1 stream): sshuttle with --no-latency-control. */
const TUNED: Series = { label: 'sshuttle --no-latency-control', colour: '#ff9896', system: 'sshuttle' };

const WIDTH = 960;
const PANEL_HEIGHT = 300;
const MARGIN = { left: 70, right: 20, top: 40, bottom: 50 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

interface Group {
  label: string;
  bars: { series: Series; value: number | undefined }[];
}

function panel(title: string, unit: string, groups: Group[], top: number): string {
  const values = groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v): v is number => v !== undefined && v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values, 1)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values, 1) * 1.5));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const y0 = top + MARGIN.top;
  const y = (v: number) => y0 + plotH - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;
  const out: string[] = [];
  out.push(`<text x="${MARGIN.left}" y="${top + 24}" font-size="16" font-weight="bold">${esc(title)}</text>`);
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    const yy = y(d).toFixed(1);
    out.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    out.push(
      `<text x="${MARGIN.left - 6}" y="${yy}" font-size="11" text-anchor="end" dominant-baseline="middle">${Number(d.toPrecision(1))}</text>`,
    );
  }
  out.push(
    `<text x="16" y="${y0 + plotH / 2}" font-size="12" transform="rotate(-90 16 ${y0 + plotH / 2})" text-anchor="middle">${esc(unit)} (log scale)</text>`,
  );
  const groupW = plotW / groups.length;
  groups.forEach((g, gi) => {
    const barW = Math.min(36, (groupW * 0.8) / g.bars.length);
    const x0 = MARGIN.left + gi * groupW + (groupW - barW * g.bars.length) / 2;
    g.bars.forEach((b, bi) => {
      const x = x0 + bi * barW;
      if (b.value === undefined || b.value <= 0) {
        out.push(
          `<text x="${(x + barW / 2).toFixed(1)}" y="${y0 + plotH - 4}" font-size="10" text-anchor="middle" fill="${b.series.colour}">n/a</text>`,
        );
        return;
      }
      const yy = y(Math.max(b.value, lo));
      out.push(
        `<rect x="${x.toFixed(1)}" y="${yy.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y0 + plotH - yy).toFixed(1)}" fill="${b.series.colour}"><title>${esc(`${b.series.label}: ${fmt(b.value)} ${unit}`)}</title></rect>`,
      );
      out.push(
        `<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(yy - 4).toFixed(1)}" font-size="10" text-anchor="middle">${fmt(b.value)}</text>`,
      );
    });
    out.push(
      `<text x="${(MARGIN.left + gi * groupW + groupW / 2).toFixed(1)}" y="${y0 + plotH + 18}" font-size="12" text-anchor="middle">${esc(g.label)}</text>`,
    );
  });
  out.push(
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y0 + plotH}" y2="${y0 + plotH}" stroke="#333"/>`,
  );
  return out.join('\n');
}

export function renderSvg(res: Results): string {
  const s = res.systems;
  // kubectl port-forward and kvpn-mux only where measured: results from before them render without them.
  const series = SERIES.filter((x) => !OPTIONAL_SYSTEMS.includes(x.system) || measured(res, x.system));
  const bulkSeries = [...series.filter((x) => !x.connectPath), ...(res.sshuttleTuned ? [TUNED] : [])];
  const bulk: Group[] = [
    ['download-1', 'download, 1 stream'],
    ['upload-1', 'upload, 1 stream'],
    ['download-4', 'download, 4 streams'],
    ['upload-4', 'upload, 4 streams'],
  ].map(([key, label]) => ({
    label: label as string,
    bars: bulkSeries
      .map((x) => ({
        series: x,
        value: figure(x === TUNED ? res.sshuttleTuned : s[x.system], `bulk.${key}.MBps`),
      }))
      .filter((b) => b.series !== TUNED || b.value !== undefined),
  }));
  const latency: Group[] = [
    ['p50Ms', 'p50'],
    ['p99Ms', 'p99'],
  ].map(([key, label]) => ({
    label: `connect + first byte, ${label}`,
    bars: series.map((x) => ({
      series: x,
      value: figure(s[x.system], `${x.connectPath ?? 'connect'}.${key}`),
    })),
  }));
  const legendY = 2 * PANEL_HEIGHT + 10;
  const legend = [...series, ...(res.sshuttleTuned ? [TUNED] : [])]
    .map((x, i) => {
      const lx = MARGIN.left + (i % 4) * 215;
      const ly = legendY + Math.floor(i / 4) * 20;
      return `<rect x="${lx}" y="${ly}" width="14" height="14" fill="${x.colour}"/><text x="${lx + 20}" y="${ly + 11}" font-size="12">${esc(x.label)}</text>`;
    })
    .join('\n');
  const height = legendY + 70;
  const caption = `npm run bench -- compare${res.world === 'real' ? ` --world real (kubelet ${res.versions.kubelet ?? '?'})` : ''}, ${res.startedAt.slice(0, 10)}, ${String(res.machine.cpus)} cores, load ${res.load.before[0]?.toFixed(2)} before the run`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel('Bulk throughput (iperf3, higher is better)', 'MB/s', bulk, 0),
    panel('Connection latency: connect + first byte (lower is better)', 'ms', latency, PANEL_HEIGHT),
    legend,
    `<text x="${MARGIN.left}" y="${legendY + 56}" font-size="11" fill="#555">${esc(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
